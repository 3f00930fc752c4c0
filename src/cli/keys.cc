// `glmq keys create | list | revoke`: API keys kept in the store (api/auth.h), which every
// `glmq serve` on the data directory, or every gateway on the Redis, reads within a second.
// A new key is printed once, on stdout alone; only its SHA-256 is stored.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "api/auth.h"
#include "cli/commands.h"
#include "crypto/crypto.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"

namespace glmq {
namespace {

struct StoreFlags {
  std::string data_dir = "./data";
  std::string redis;
};

void AddStoreFlags(CLI::App& cmd, StoreFlags& f) {
  cmd.add_option("--data-dir", f.data_dir, "the data directory of `glmq serve`")
      ->envname("GLMQ_DATA_DIR")
      ->capture_default_str();
  cmd.add_option("--redis", f.redis,
                 "the Redis of `glmq gateway` and `glmq worker` (instead of --data-dir)")
      ->envname("GLMQ_REDIS");
}

Result<std::unique_ptr<JobStore>> OpenStore(const StoreFlags& f) {
  if (!f.redis.empty()) {
    RedisStoreOptions options;
    options.url = f.redis;
    options.require_persistence = false;  // a key is one small write; serving checks the rest
    GLMQ_ASSIGN_OR_RETURN(auto store, RedisJobStore::Open(options, nullptr));
    return std::unique_ptr<JobStore>(std::move(store));
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(f.data_dir, ec)) {
    return InvalidArgument("--data-dir " + f.data_dir + " is not a directory");
  }
  GLMQ_ASSIGN_OR_RETURN(auto store, SqliteJobStore::Open(f.data_dir + "/glmq.db", nullptr));
  return std::unique_ptr<JobStore>(std::move(store));
}

std::string NewKeyId() { return "key_" + RandomHex(8); }

int Fail(const Status& s) {
  spdlog::error("{}", s.message());
  return 1;
}

}  // namespace

void AddKeysCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out) {
  auto* keys = app.add_subcommand("keys", "make, list and revoke API keys kept in the store");
  keys->require_subcommand(1);

  struct CreateFlags {
    StoreFlags store;
    std::string tenant;
    std::string role;
    std::string name;
  };
  auto create = std::make_shared<CreateFlags>();
  auto* create_cmd =
      keys->add_subcommand("create", "make a key; prints it once (only its SHA-256 is stored)");
  create_cmd
      ->add_option("--tenant", create->tenant,
                   "the tenant it acts for ('default': the "
                   "implicit one)")
      ->required();
  create_cmd->add_option("--role", create->role, "read | submit | admin")
      ->required()
      ->check(CLI::IsMember({"read", "submit", "admin"}));
  create_cmd->add_option("--name", create->name, "what it is for, shown by `list`");
  AddStoreFlags(*create_cmd, create->store);
  out.emplace_back(create_cmd, [create]() -> int {
    const bool implicit = create->tenant == kDefaultTenantName;
    if (!implicit && !IsValidTenant(create->tenant)) {
      return Fail(InvalidArgument("'" + create->tenant +
                                  "' is not a tenant name (1 to 64 of A-Z a-z 0-9 . _ -)"));
    }
    auto store = OpenStore(create->store);
    if (!store.ok()) return Fail(store.status());
    const std::string key = NewApiKey();
    const JobStore::ApiKeyRecord record{.id = NewKeyId(),
                                        .sha256 = Sha256Hex(key),
                                        .tenant = implicit ? "" : create->tenant,
                                        .role = create->role,
                                        .name = create->name,
                                        .created_at = NowMs()};
    if (Status s = (*store)->AddApiKey(record); !s.ok()) return Fail(s);
    std::fprintf(stderr, "created %s: tenant %s, role %s. The key is shown this once; keep it:\n",
                 record.id.c_str(), create->tenant.c_str(), record.role.c_str());
    std::printf("%s\n", key.c_str());
    return 0;
  });

  auto list = std::make_shared<StoreFlags>();
  auto* list_cmd =
      keys->add_subcommand("list", "the keys in the store (never the keys themselves)");
  AddStoreFlags(*list_cmd, *list);
  out.emplace_back(list_cmd, [list]() -> int {
    auto store = OpenStore(*list);
    if (!store.ok()) return Fail(store.status());
    auto records = (*store)->ApiKeys();
    if (!records.ok()) return Fail(records.status());
    std::printf("%-20s %-20s %-7s %-24s %s\n", "ID", "TENANT", "ROLE", "CREATED", "NAME");
    for (const JobStore::ApiKeyRecord& r : *records) {
      const std::time_t t = static_cast<std::time_t>(r.created_at / 1000);
      char when[32] = {};
      std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
      std::printf("%-20s %-20s %-7s %-24s %s\n", r.id.c_str(),
                  std::string(TenantName(r.tenant)).c_str(), r.role.c_str(), when, r.name.c_str());
    }
    return 0;
  });

  struct RevokeFlags {
    StoreFlags store;
    std::string id;
  };
  auto revoke = std::make_shared<RevokeFlags>();
  auto* revoke_cmd =
      keys->add_subcommand("revoke", "delete a key; every server refuses it within a second");
  revoke_cmd->add_option("id", revoke->id, "the key's id, as `list` shows it")->required();
  AddStoreFlags(*revoke_cmd, revoke->store);
  out.emplace_back(revoke_cmd, [revoke]() -> int {
    auto store = OpenStore(revoke->store);
    if (!store.ok()) return Fail(store.status());
    auto removed = (*store)->RemoveApiKey(revoke->id);
    if (!removed.ok()) return Fail(removed.status());
    if (!*removed) return Fail(NotFound("no key " + revoke->id));
    std::fprintf(stderr, "revoked %s\n", revoke->id.c_str());
    return 0;
  });
}

}  // namespace glmq
