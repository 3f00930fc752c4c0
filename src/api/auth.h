// Who is calling. An API key belongs to one tenant and has a role; the tenant a request acts
// for comes from its key alone, never from a client header. Keys come from --api-key (each
// an admin of the implicit tenant, as before there were tenants), a keys file, and the
// store (`glmq keys create`); only their SHA-256 digests are held, compared in constant
// time. With no key anywhere every request is an admin of the implicit tenant.
//
// Keys file: one key per line; blank lines and lines starting with '#' are skipped.
//   TENANT ROLE SECRET [name=NAME]
//   tenant TENANT [max_queued=N] [max_queued_tokens=N] [tokens_per_minute=N] [weight=W]
//                 [retention_hours=H] [batch_max_queued_tokens=N]
// SECRET is the key itself or "sha256:" and its digest in hex (so the file need not hold
// the key); ROLE is read, submit or admin; the tenant "default" is the implicit one. A line
// holding a single key is an admin of the implicit tenant (the format before tenants).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/job_store.h"

namespace glmq {

// read: its tenant's jobs, read-only. submit: its tenant's jobs. admin: every tenant's, the
// queue's internals, alerts and silences.
enum class Role { kRead, kSubmit, kAdmin };
const char* RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// The implicit tenant's name where one is shown ("" is stored).
inline constexpr std::string_view kDefaultTenantName = "default";
inline std::string_view TenantName(std::string_view tenant) {
  return tenant.empty() ? kDefaultTenantName : tenant;
}

struct Caller {
  std::string tenant;  // "" = the implicit tenant
  Role role = Role::kAdmin;
  bool keyed = false;  // named by an API key (false: no keys are required)
  bool admin() const { return role == Role::kAdmin; }
  // Whether the role allows what `needed` does (read < submit < admin).
  bool May(Role needed) const { return static_cast<int>(role) >= static_cast<int>(needed); }
  // Whether a job of `job_tenant` is visible to this caller.
  bool Sees(std::string_view job_tenant) const { return admin() || job_tenant == tenant; }
};

// What one tenant may have queued and submit (0 = no limit). Over one, a submit is a 429
// with Retry-After that names the limit.
struct TenantLimits {
  int64_t max_queued_jobs = 0;
  int64_t max_queued_tokens = 0;  // prompt tokens of its queued jobs
  double tokens_per_minute = 0;   // prompt + max tokens submitted, over a minute
  // What a new batch's requests with the tenant's queued work may come to (estimated prompt
  // and max tokens; BatchRunnerOptions::max_queued_tokens). Not a submit's limit.
  int64_t batch_max_queued_tokens = 0;
};
// A keys file line "tenant NAME key=value..." sets one tenant's limits (max_queued,
// max_queued_tokens, tokens_per_minute, batch_max_queued_tokens); what it does not name
// keeps the flags' default.
// Its weight= (fair share, default 1) and retention_hours= (how long its ended jobs are
// kept, instead of --retention-hours; 0 keeps them) go to the store
// (JobStore::SetTenantSettings).
using TenantLimitOverrides = std::map<std::string, std::map<std::string, double>>;
TenantLimits LimitsOf(const TenantLimitOverrides& overrides, const std::string& tenant,
                      TenantLimits defaults);
JobStore::TenantSettings SettingsOf(const TenantLimitOverrides& overrides);

struct ApiKey {
  std::string digest;  // SHA-256 of the key, raw bytes
  std::string tenant;
  Role role = Role::kAdmin;
  std::string name;
};

// A key made here: "glmq_" and 48 hex digits (192 random bits).
std::string NewApiKey();

class ApiKeys {
 public:
  // Keys given one by one (--api-key) and a keys file. A key must be 16 to 256 printable
  // ASCII characters without spaces.
  static Result<ApiKeys> Load(const std::vector<std::string>& keys, const std::string& file);
  // The keys of a keys file's text; `where` names it in errors. Its tenant lines go to
  // `limits` when given.
  static Result<std::vector<ApiKey>> Parse(std::string_view text, const std::string& where,
                                           TenantLimitOverrides* limits = nullptr);
  void Add(const std::vector<ApiKey>& keys) { keys_.insert(keys_.end(), keys.begin(), keys.end()); }
  // Adds the keys the store keeps; a record that does not read is skipped with a warning.
  void AddStored(const std::vector<JobStore::ApiKeyRecord>& records);

  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }
  // The tenants these keys belong to.
  std::set<std::string> tenants() const;
  // The caller an Authorization header value ("Bearer KEY", the scheme in any case) names;
  // nullopt for none of the keys.
  std::optional<Caller> Authenticate(std::string_view authorization) const;

 private:
  std::vector<ApiKey> keys_;
};

// The keys in force, read again from the keys file (when it changed) and the store by
// Refresh, which a front end calls every second: a key revoked anywhere stops working
// within a second on every gateway. Any thread.
class KeyRing {
 public:
  KeyRing(std::vector<std::string> flag_keys, std::string file, JobStore* store)
      : flag_keys_(std::move(flag_keys)), file_(std::move(file)), store_(store) {}
  // Reads every source. An error (a keys file that does not parse, a store that does not
  // answer) keeps the keys in force as they were. The keys file's tenant settings (weights,
  // retention) go to the store when they changed (and again after a failed try).
  Status Refresh();
  // Whether keys are required: once any key was seen, until the process ends (revoking the
  // last key does not open the API).
  bool required() const;
  size_t size() const;
  // nullopt: not a valid key. With no key required: an admin of the implicit tenant.
  std::optional<Caller> Authenticate(std::string_view authorization) const;
  // The limits the keys file sets per tenant, as last read.
  // Shared, not copied: a submit asks for them several times.
  std::shared_ptr<const TenantLimitOverrides> limit_overrides() const;
  // The tenants named by a key in force or a keys file's tenant line: a set that
  // configuration bounds (per-tenant metrics), never what clients send.
  std::set<std::string> tenants() const;

 private:
  const std::vector<std::string> flag_keys_;
  std::optional<ApiKeys> flag_keys_hashed_;  // guarded by mu_; set at the first Refresh
  const std::string file_;
  JobStore* const store_;
  mutable std::mutex mu_;
  std::shared_ptr<const ApiKeys> keys_;
  bool required_ = false;
  std::string file_stamp_;  // mtime and size of the keys file last read
  std::vector<ApiKey> file_keys_;
  std::shared_ptr<const TenantLimitOverrides> file_limits_ =
      std::make_shared<const TenantLimitOverrides>();
  std::optional<JobStore::TenantSettings> settings_in_store_;  // as last written
};

}  // namespace glmq
