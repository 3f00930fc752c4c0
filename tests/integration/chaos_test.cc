// Chaos: steady load (submits with webhooks, cancels, long-polls) while a driver kills and
// restarts processes, makes the store refuse writes and fills the data disk; then a
// checker holds every job that got a 202 to the service's promises:
//   - it ends, in exactly one terminal state (what a client saw end never changes);
//   - a succeeded job has its answer, and every webhook delivery of a job carries the same
//     state and answer (no result written twice);
//   - nothing stays `running` once the faults stop (no job running without an engine);
//   - its webhook is delivered at least once.
// It prints the counts: jobs accepted, faults injected by kind, violations.
//
// GLMQ_CHAOS_SECONDS sets how long each mode is shaken (default 30; the README's long run
// used 1800): GLMQ_CHAOS_SECONDS=1800 build/glmq_integration_tests --gtest_filter='Chaos*'
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "integration/harness.h"
#include "integration/webhook_receiver.h"
#include "store/redis_server.h"

namespace glmq::integration {
namespace {

namespace fs = std::filesystem;

int ChaosSeconds() {
  const char* s = std::getenv("GLMQ_CHAOS_SECONDS");
  return s != nullptr && std::atoi(s) > 0 ? std::atoi(s) : 30;
}

// What clients were told and saw, per accepted job.
class Ledger {
 public:
  void Accepted(const std::string& id) {
    std::lock_guard lock(mu_);
    jobs_[id];
  }
  // A terminal view of the job, from a long-poll: the first one is the job's outcome, and
  // every later one must agree with it.
  void SawEnd(const std::string& id, const json& job) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    const std::string state = job.value("state", "");
    const std::string result = job.contains("text") ? job["text"].dump() : "";
    if (it->second.state.empty()) {
      it->second.state = state;
      it->second.result = result;
    } else if (it->second.state != state || it->second.result != result) {
      violations_.push_back("job " + id + " was seen ending " + it->second.state + " and later " +
                            state + (it->second.result != result ? " with another result" : ""));
    }
  }
  std::vector<std::string> Ids() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    for (const auto& [id, seen] : jobs_) ids.push_back(id);
    return ids;
  }
  std::string RandomId(std::mt19937& rng) const {
    std::lock_guard lock(mu_);
    if (jobs_.empty()) return "";
    auto it = jobs_.begin();
    std::advance(it, rng() % jobs_.size());
    return it->first;
  }
  void Violation(std::string what) {
    std::lock_guard lock(mu_);
    violations_.push_back(std::move(what));
  }
  std::vector<std::string> violations() const {
    std::lock_guard lock(mu_);
    return violations_;
  }

 private:
  struct Seen {
    std::string state;   // first terminal state seen, "" until then
    std::string result;  // its answer (the job's `text`), as JSON
  };
  mutable std::mutex mu_;
  std::map<std::string, Seen> jobs_;
  std::vector<std::string> violations_;
};

// Where the load goes: the ports of the processes that take requests, which change when
// one is restarted.
class Targets {
 public:
  void Set(size_t i, uint16_t port) {
    std::lock_guard lock(mu_);
    if (ports_.size() <= i) ports_.resize(i + 1);
    ports_[i] = port;
  }
  HttpClient Pick(std::mt19937& rng) const {
    std::lock_guard lock(mu_);
    return HttpClient("http://127.0.0.1:" + std::to_string(ports_[rng() % ports_.size()]));
  }

 private:
  mutable std::mutex mu_;
  std::vector<uint16_t> ports_;
};

// Submits, cancels and long-polls until `stop`.
void Load(const Targets& targets, Ledger& ledger, const std::string& hook, int seed,
          const std::atomic<bool>& stop) {
  std::mt19937 rng(seed);
  while (!stop) {
    const HttpClient client = targets.Pick(rng);
    const int what = static_cast<int>(rng() % 10);
    if (what < 6) {
      const json body = {{"text", "Chaos job " + std::to_string(rng()) + ". " + FillerText(200)},
                         {"max_tokens", 1 + static_cast<int>(rng() % 24)},
                         {"webhook_url", hook}};
      HttpResult r = client.Post("/v1/jobs", body, seconds(10));
      if (r.status == 202) ledger.Accepted(r.body_json.value("id", ""));
    } else if (what < 7) {
      const std::string id = ledger.RandomId(rng);
      if (!id.empty()) (void)client.Delete("/v1/jobs/" + id, seconds(10));
    } else {
      const std::string id = ledger.RandomId(rng);
      if (id.empty()) continue;
      HttpResult r = client.Get("/v1/jobs/" + id + "?wait=2", seconds(10));
      if (r.status == 200 && IsTerminalState(r.body_json.value("state", ""))) {
        ledger.SawEnd(id, r.body_json);
      } else if (r.status == 404) {
        ledger.Violation("job " + id + " got a 202 and then a 404");
      }
    }
  }
}

// After the faults: every accepted job ends, in the state clients saw, with one result,
// delivered by webhook at least once. Returns the number of jobs checked.
size_t Check(const Server& server, Ledger& ledger, const WebhookReceiver& receiver) {
  const std::vector<std::string> ids = ledger.Ids();
  std::atomic<size_t> next{0};
  std::vector<std::thread> checkers;
  for (int t = 0; t < 4; ++t) {
    checkers.emplace_back([&] {
      for (size_t i = next++; i < ids.size(); i = next++) {
        const std::string& id = ids[i];
        const json job = WaitForTerminal(server, id, seconds(120));
        const std::string state = job.value("state", "");
        if (!IsTerminalState(state)) {
          ledger.Violation("job " + id + " never ended: " + job.dump());
          continue;
        }
        ledger.SawEnd(id, job);
        if (state == "succeeded" && (!job.contains("text") || !job["text"].is_string() ||
                                     job["usage"].value("completion_tokens", 0) <= 0)) {
          ledger.Violation("job " + id + " succeeded without an answer: " + job.dump());
        }
      }
    });
  }
  for (auto& t : checkers) t.join();
  // Every webhook delivery of a job tells the same end.
  std::map<std::string, std::string> delivered;
  const auto deadline = Clock::now() + seconds(120);
  while (Clock::now() < deadline) {
    delivered.clear();
    for (const auto& r : receiver.received()) {
      if (r.body.is_discarded() || !r.body.contains("job")) continue;
      const json& job = r.body["job"];
      const std::string id = job.value("id", "");
      const std::string end =
          job.value("state", "") + " " + (job.contains("text") ? job["text"].dump() : "");
      auto [it, first] = delivered.emplace(id, end);
      if (!first && it->second != end) {
        ledger.Violation("job " + id + " was delivered as '" + it->second + "' and as '" + end +
                         "'");
      }
    }
    size_t missing = 0;
    for (const std::string& id : ids) missing += delivered.count(id) == 0;
    if (missing == 0) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  for (const std::string& id : ids) {
    if (delivered.count(id) == 0) ledger.Violation("job " + id + "'s webhook was never delivered");
  }
  return ids.size();
}

// Runs the load on `targets` for GLMQ_CHAOS_SECONDS while `fault` injects one fault every
// 1.5 to 3 s (it returns the fault's kind, "" when it could not); the faults by kind.
std::map<std::string, int> Shake(const Targets& targets, Ledger& ledger,
                                 const WebhookReceiver& receiver, int seed,
                                 const std::function<std::string(std::mt19937&)>& fault) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int i = 0; i < 4; ++i) {
    load.emplace_back(Load, std::cref(targets), std::ref(ledger), receiver.url(), seed + i,
                      std::cref(stop));
  }
  std::map<std::string, int> faults;
  std::mt19937 rng(seed);
  const auto end = Clock::now() + seconds(ChaosSeconds());
  while (Clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(1500 + rng() % 1500));
    const std::string kind = fault(rng);
    if (kind.empty()) break;
    ++faults[kind];
  }
  stop = true;
  for (auto& t : load) t.join();
  return faults;
}

void Report(const char* mode, size_t jobs, const std::map<std::string, int>& faults,
            const Ledger& ledger) {
  std::string line =
      std::string("chaos ") + mode + ": " + std::to_string(jobs) + " jobs accepted; faults:";
  for (const auto& [kind, n] : faults) line += " " + kind + "=" + std::to_string(n);
  const auto violations = ledger.violations();
  line += "; violations: " + std::to_string(violations.size());
  std::map<std::string, int> kinds;
  for (const std::string& v : violations) {
    for (const char* kind : {"never ended", "seen ending", "without an answer", "then a 404",
                             "never delivered", "was delivered as"}) {
      if (v.find(kind) != std::string::npos) ++kinds[kind];
    }
  }
  for (const auto& [kind, n] : kinds) line += " (" + kind + ": " + std::to_string(n) + ")";
  std::cout << line << std::endl;
  for (size_t i = 0; i < violations.size() && i < 20; ++i) {
    std::cout << "  violation: " << violations[i] << "\n";
  }
}

// `glmq serve`: kill -9 and restart, the store refusing writes for a while, the data disk
// full for a while (when a tmpfs can be mounted here).
TEST(ChaosTest, ServeKeepsItsPromisesUnderFaults) {
  WebhookReceiver receiver;
  const std::string fault_file = ScratchDir("glmq-chaos-fault") + "/refuse-writes";
  // Every start of the server (restarts too) inherits the switch.
  const ScopedEnv fault("GLMQ_FAULT_STORE_FILE", fault_file);
  Server server(
      {"--parallel", "4", "--ctx-size", "16384", "--lease-ms", "3000", "--webhook-allow-private"});
  fs::create_directories(server.data_dir());
  // Room for the jobs of a long run; filled whole for the disk_full fault.
  const bool tmpfs = ::mount("tmpfs", server.data_dir().c_str(), "tmpfs", 0, "size=1g") == 0;
  struct Unmount {
    std::string dir;
    bool on;
    ~Unmount() {
      if (on) ::umount2(dir.c_str(), MNT_DETACH);
    }
  } unmount{server.data_dir(), tmpfs};
  ASSERT_TRUE(server.Start()) << server.start_error();
  Targets targets;
  targets.Set(0, server.port());
  Ledger ledger;
  const auto faults = Shake(targets, ledger, receiver, 1, [&](std::mt19937& rng) -> std::string {
    switch (rng() % (tmpfs ? 3 : 2)) {
      case 0:
        server.Kill(SIGKILL);
        if (!server.Restart()) {
          ADD_FAILURE() << server.start_error();
          return "";
        }
        targets.Set(0, server.port());
        return "kill_serve";
      case 1:
        std::ofstream(fault_file).put('x');
        std::this_thread::sleep_for(milliseconds(1000 + rng() % 2000));
        fs::remove(fault_file);
        return "store_refuses_writes";
      default: {
        {
          std::ofstream fill(server.data_dir() + "/filler", std::ios::binary);
          const std::string block(64 * 1024, 'x');
          while (fill.write(block.data(), block.size())) {
          }
        }
        std::this_thread::sleep_for(milliseconds(1000 + rng() % 2000));
        fs::remove(server.data_dir() + "/filler");
        return "disk_full";
      }
    }
  });
  const size_t jobs = Check(server, ledger, receiver);
  Report("serve", jobs, faults, ledger);
  EXPECT_GT(jobs, 0u);
  EXPECT_TRUE(ledger.violations().empty());
}

// Gateways and workers on Redis: kill -9 and restart of a worker, a gateway, and Redis
// (appendfsync always: what it acknowledged survives).
TEST(ChaosTest, GatewaysAndWorkersOnRedisKeepTheirPromisesUnderFaults) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--appendonly", "yes", "--appendfsync", "always"}))
      << redis.last_error();
  WebhookReceiver receiver;
  auto gateway = [&] {
    return std::make_unique<Server>(
        "gateway", std::vector<std::string>{"--redis", redis.url(), "--webhook-allow-private"});
  };
  auto worker = [&] {
    return std::make_unique<Server>(
        "worker", std::vector<std::string>{"--redis", redis.url(), "--parallel", "4", "--ctx-size",
                                           "16384", "--lease-ms", "2000"});
  };
  std::vector<std::unique_ptr<Server>> gateways, workers;
  gateways.push_back(gateway());
  gateways.push_back(gateway());
  workers.push_back(worker());
  workers.push_back(worker());
  Targets targets;
  for (size_t i = 0; i < gateways.size(); ++i) {
    ASSERT_TRUE(gateways[i]->Start()) << gateways[i]->start_error();
    targets.Set(i, gateways[i]->port());
  }
  for (auto& w : workers) ASSERT_TRUE(w->Start()) << w->start_error();
  Ledger ledger;
  const auto faults = Shake(targets, ledger, receiver, 100, [&](std::mt19937& rng) -> std::string {
    switch (rng() % 3) {
      case 0: {
        Server& w = *workers[rng() % workers.size()];
        w.Kill(SIGKILL);
        if (!w.Restart()) {
          ADD_FAILURE() << w.start_error();
          return "";
        }
        return "kill_worker";
      }
      case 1: {
        const size_t i = rng() % gateways.size();
        gateways[i]->Kill(SIGKILL);
        if (!gateways[i]->Restart()) {
          ADD_FAILURE() << gateways[i]->start_error();
          return "";
        }
        targets.Set(i, gateways[i]->port());
        return "kill_gateway";
      }
      default:
        redis.Kill(SIGKILL);
        std::this_thread::sleep_for(milliseconds(200 + rng() % 1000));
        if (!redis.Restart()) {
          ADD_FAILURE() << redis.last_error();
          return "";
        }
        return "kill_redis";
    }
  });
  const size_t jobs = Check(*gateways[0], ledger, receiver);
  Report("redis", jobs, faults, ledger);
  EXPECT_GT(jobs, 0u);
  EXPECT_TRUE(ledger.violations().empty());
}

}  // namespace
}  // namespace glmq::integration
