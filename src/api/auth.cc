#include "api/auth.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "crypto/crypto.h"

namespace glmq {
namespace {

constexpr size_t kMinKeyBytes = 16;
constexpr size_t kMaxKeyBytes = 256;
constexpr std::string_view kDigestPrefix = "sha256:";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

Status CheckKey(std::string_view key, const std::string& where) {
  const bool printable =
      std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 127; });
  if (key.size() < kMinKeyBytes || key.size() > kMaxKeyBytes || !printable) {
    return InvalidArgument(where + ": an API key must be " + std::to_string(kMinKeyBytes) + " to " +
                           std::to_string(kMaxKeyBytes) +
                           " printable ASCII characters without spaces (this one has " +
                           std::to_string(key.size()) + " characters)");
  }
  return Status::Ok();
}

// Raw digest bytes of 64 hex digits; nullopt when they are not.
std::optional<std::string> DigestOfHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  return HexDecode(hex);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read the keys file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// What changes when the file is written: its mtime and size ("" when it cannot be read).
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
         std::to_string(st.st_size);
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kSubmit:
      return "submit";
    case Role::kAdmin:
      return "admin";
  }
  return "read";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kRead, Role::kSubmit, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

std::string NewApiKey() { return "glmq_" + RandomHex(24); }

TenantLimits LimitsOf(const TenantLimitOverrides& overrides, const std::string& tenant,
                      TenantLimits defaults) {
  const auto it = overrides.find(tenant);
  if (it == overrides.end()) return defaults;
  for (const auto& [name, value] : it->second) {
    if (name == "max_queued") defaults.max_queued_jobs = static_cast<int64_t>(value);
    if (name == "max_queued_tokens") defaults.max_queued_tokens = static_cast<int64_t>(value);
    if (name == "tokens_per_minute") defaults.tokens_per_minute = value;
    if (name == "batch_max_queued_tokens") {
      defaults.batch_max_queued_tokens = static_cast<int64_t>(value);
    }
  }
  return defaults;
}

JobStore::TenantSettings SettingsOf(const TenantLimitOverrides& overrides) {
  JobStore::TenantSettings settings;
  for (const auto& [tenant, values] : overrides) {
    if (auto it = values.find("weight"); it != values.end()) settings.weights[tenant] = it->second;
    if (auto it = values.find("retention_hours"); it != values.end()) {
      settings.retention_ms[tenant] = std::llround(it->second * 3'600'000);
    }
  }
  return settings;
}

Result<std::vector<ApiKey>> ApiKeys::Parse(std::string_view text, const std::string& where,
                                           TenantLimitOverrides* limits) {
  std::vector<ApiKey> out;
  int n = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = Trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++n;
    if (line.empty() || line.front() == '#') continue;
    const std::string at = where + " line " + std::to_string(n);
    const std::vector<std::string_view> f = Fields(line);
    ApiKey key;
    std::string_view secret;
    if (f.size() >= 2 && f[0] == "tenant" && !ParseRole(f[1])) {
      // A tenant's limits.
      const std::string tenant = f[1] == kDefaultTenantName ? "" : std::string(f[1]);
      if (!tenant.empty() && !IsValidTenant(tenant)) {
        return InvalidArgument(at + ": '" + std::string(f[1]) + "' is not a tenant name");
      }
      for (size_t i = 2; i < f.size(); ++i) {
        const size_t eq = f[i].find('=');
        const std::string name(f[i].substr(0, eq == std::string_view::npos ? f[i].size() : eq));
        static const std::set<std::string, std::less<>> kSettings = {
            "max_queued", "max_queued_tokens", "tokens_per_minute",
            "weight",     "retention_hours",   "batch_max_queued_tokens"};
        if (eq == std::string_view::npos || !kSettings.contains(name)) {
          return InvalidArgument(at + ": unknown setting '" + std::string(f[i]) +
                                 "' (max_queued=, max_queued_tokens=, tokens_per_minute=, "
                                 "weight=, retention_hours=, batch_max_queued_tokens=)");
        }
        const std::string value(f[i].substr(eq + 1));
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || !(v >= 0) || v > 1e15) {
          return InvalidArgument(at + ": " + name + " must be a number of 0 or more");
        }
        if (name == "weight" && !(v > 0 && v <= 1e6)) {
          return InvalidArgument(at + ": weight must be more than 0 and at most 1000000");
        }
        if (limits != nullptr) (*limits)[tenant][name] = v;
      }
      continue;
    }
    if (f.size() == 1) {
      secret = f[0];  // the format before tenants: an admin of the implicit tenant
    } else if (f.size() >= 3) {
      if (f[0] != kDefaultTenantName) {
        if (!IsValidTenant(f[0])) {
          return InvalidArgument(at + ": '" + std::string(f[0]) +
                                 "' is not a tenant name (1 to 64 of A-Z a-z 0-9 . _ -)");
        }
        key.tenant = std::string(f[0]);
      }
      const std::optional<Role> role = ParseRole(f[1]);
      if (!role) {
        return InvalidArgument(at + ": the role must be read, submit or admin, not '" +
                               std::string(f[1]) + "'");
      }
      key.role = *role;
      secret = f[2];
      for (size_t i = 3; i < f.size(); ++i) {
        if (f[i].starts_with("name=")) {
          key.name = std::string(f[i].substr(5));
        } else {
          return InvalidArgument(at + ": unknown field '" + std::string(f[i]) +
                                 "' (expected name=...)");
        }
      }
    } else {
      return InvalidArgument(at + ": expected 'TENANT ROLE KEY [name=NAME]' or a key alone");
    }
    if (secret.starts_with(kDigestPrefix)) {
      auto digest = DigestOfHex(secret.substr(kDigestPrefix.size()));
      if (!digest) return InvalidArgument(at + ": sha256: must be followed by 64 hex digits");
      key.digest = std::move(*digest);
    } else {
      GLMQ_RETURN_IF_ERROR(CheckKey(secret, at));
      key.digest = Sha256(secret);
    }
    out.push_back(std::move(key));
  }
  return out;
}

Result<ApiKeys> ApiKeys::Load(const std::vector<std::string>& keys, const std::string& file) {
  ApiKeys out;
  for (const std::string& key : keys) {
    GLMQ_RETURN_IF_ERROR(CheckKey(key, "--api-key"));
    out.keys_.push_back({.digest = Sha256(key), .tenant = "", .role = Role::kAdmin, .name = ""});
  }
  if (!file.empty()) {
    GLMQ_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    GLMQ_ASSIGN_OR_RETURN(std::vector<ApiKey> parsed, Parse(text, file));
    if (parsed.empty()) return InvalidArgument("--api-keys-file '" + file + "' holds no key");
    out.keys_.insert(out.keys_.end(), parsed.begin(), parsed.end());
  }
  return out;
}

void ApiKeys::AddStored(const std::vector<JobStore::ApiKeyRecord>& records) {
  for (const JobStore::ApiKeyRecord& r : records) {
    auto digest = DigestOfHex(r.sha256);
    const std::optional<Role> role = ParseRole(r.role);
    if (!digest || !role || (!r.tenant.empty() && !IsValidTenant(r.tenant))) {
      spdlog::warn("API key {} in the store does not read; it is not accepted", r.id);
      continue;
    }
    keys_.push_back(
        {.digest = std::move(*digest), .tenant = r.tenant, .role = *role, .name = r.name});
  }
}

std::optional<Caller> ApiKeys::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) {
      return std::nullopt;
    }
  }
  const std::string digest = Sha256(Trim(authorization.substr(kScheme.size())));
  // Every key is compared, each in constant time: the answer's timing says nothing of them.
  const ApiKey* found = nullptr;
  for (const ApiKey& k : keys_) {
    if (CRYPTO_memcmp(k.digest.data(), digest.data(), digest.size()) == 0) found = &k;
  }
  if (found == nullptr) return std::nullopt;
  return Caller{.tenant = found->tenant, .role = found->role, .keyed = true};
}

Status KeyRing::Refresh() {
  std::vector<ApiKey> file_keys;
  if (!file_.empty()) {
    const std::string stamp = FileStamp(file_);
    bool unchanged = false;
    {
      std::lock_guard lock(mu_);
      unchanged = !stamp.empty() && stamp == file_stamp_;
      if (unchanged) file_keys = file_keys_;
    }
    if (!unchanged) {
      GLMQ_ASSIGN_OR_RETURN(std::string text, ReadFile(file_));
      TenantLimitOverrides limits;
      GLMQ_ASSIGN_OR_RETURN(file_keys, ApiKeys::Parse(text, file_, &limits));
      std::lock_guard lock(mu_);
      if (!file_stamp_.empty()) spdlog::info("keys file {}: {} keys", file_, file_keys.size());
      file_stamp_ = stamp;
      file_keys_ = file_keys;
      file_limits_ = std::make_shared<const TenantLimitOverrides>(std::move(limits));
    }
  }
  // --api-key keys are hashed once.
  std::optional<ApiKeys> flag_keys;
  {
    std::lock_guard lock(mu_);
    flag_keys = flag_keys_hashed_;
  }
  if (!flag_keys) {
    GLMQ_ASSIGN_OR_RETURN(flag_keys, ApiKeys::Load(flag_keys_, ""));
    std::lock_guard lock(mu_);
    flag_keys_hashed_ = flag_keys;
  }
  ApiKeys keys = std::move(*flag_keys);
  keys.Add(file_keys);
  if (store_ != nullptr) {
    GLMQ_ASSIGN_OR_RETURN(std::vector<JobStore::ApiKeyRecord> stored, store_->ApiKeys());
    keys.AddStored(stored);
  }
  auto shared = std::make_shared<const ApiKeys>(std::move(keys));
  JobStore::TenantSettings settings;
  {
    std::lock_guard lock(mu_);
    required_ = required_ || !shared->empty() || !file_.empty();
    keys_ = std::move(shared);
    settings = SettingsOf(*file_limits_);
    if (store_ == nullptr || file_.empty() || settings_in_store_ == settings) return Status::Ok();
  }
  GLMQ_RETURN_IF_ERROR(store_->SetTenantSettings(settings));
  std::lock_guard lock(mu_);
  settings_in_store_ = std::move(settings);
  return Status::Ok();
}

std::set<std::string> ApiKeys::tenants() const {
  std::set<std::string> out;
  for (const ApiKey& k : keys_) out.insert(k.tenant);
  return out;
}

std::set<std::string> KeyRing::tenants() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out = keys_ ? keys_->tenants() : std::set<std::string>();
  for (const auto& [tenant, limits] : *file_limits_) out.insert(tenant);
  return out;
}

std::shared_ptr<const TenantLimitOverrides> KeyRing::limit_overrides() const {
  std::lock_guard lock(mu_);
  return file_limits_;
}

bool KeyRing::required() const {
  std::lock_guard lock(mu_);
  return required_;
}

size_t KeyRing::size() const {
  std::lock_guard lock(mu_);
  return keys_ ? keys_->size() : 0;
}

std::optional<Caller> KeyRing::Authenticate(std::string_view authorization) const {
  std::shared_ptr<const ApiKeys> keys;
  {
    std::lock_guard lock(mu_);
    if (!required_) return Caller{};
    keys = keys_;
  }
  return keys->Authenticate(authorization);
}

}  // namespace glmq
