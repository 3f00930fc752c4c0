// Prefix reuse: jobs that start with the same tokens (questions on one document) share the
// document's KV instead of each reading it, with the same answers as without sharing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <numeric>
#include <random>
#include <set>

#include "engine/engine_test_support.h"

namespace glmq {
namespace {

std::string Document(int sentences) {
  std::string text;
  for (int i = 0; i < sentences; ++i) {
    text += "Line " + std::to_string(i) + ": the tide turned at " + std::to_string(i * 7 % 60) +
            " past the hour, and the gulls came back. ";
  }
  return text;
}

Job Question(const std::string& id, const std::string& document, const std::string& question,
             int32_t max_tokens = 12) {
  Job job = MakeJob(id, document, max_tokens);
  job.request.question = question;
  return job;
}

int64_t PromptTokens(Engine& engine, const Job& job) {
  auto counted = engine.tokenizer().CountPromptTokens(job.request);
  EXPECT_TRUE(counted.ok()) << counted.status().ToString();
  return counted.ok() ? *counted : 0;
}

// What `job` answers on an engine of its own without the cache.
Completion Alone(const Job& job) {
  auto engine = LoadEngine(1, 4096, /*prefix_cache=*/false);
  EXPECT_NE(engine, nullptr);
  if (engine == nullptr) return {};
  EXPECT_TRUE(Admit(*engine, job).ok());
  return RunAll(*engine)[job.id];
}

struct Totals {
  std::map<std::string, Completion> done;
  int64_t prompt_tokens_read = 0;
  int64_t reused = 0;
};

Totals RunCounting(Engine& engine) {
  Totals t;
  for (int i = 0; i < 10000 && engine.ActiveSequences() > 0; ++i) {
    StepReport r = engine.Step();
    t.prompt_tokens_read += r.prompt_tokens;
    t.reused += r.reused_prompt_tokens;
    for (auto& f : r.finished) t.done[f.id] = std::move(f.completion);
  }
  return t;
}

const std::string kDocument = Document(24);

TEST(PrefixCacheTest, ASecondQuestionOnADocumentReusesItsKvAndAnswersTheSame) {
  auto engine = LoadEngine(1);
  ASSERT_NE(engine, nullptr);
  const Job first = Question("first", kDocument, "Who came back?");
  const Job second = Question("second", kDocument, "When did the tide turn?");
  const int64_t prompt = PromptTokens(*engine, second);
  ASSERT_GT(prompt, 400);

  ASSERT_TRUE(Admit(*engine, first).ok());
  Totals a = RunCounting(*engine);
  EXPECT_EQ(a.done["first"].usage.cached_tokens, 0);
  EXPECT_EQ(a.reused, 0);
  EXPECT_EQ(engine->FreeSlots(), 1);
  EXPECT_EQ(engine->FreeKvTokens(), engine->info().ctx_size);  // warm KV is free to evict

  ASSERT_TRUE(Admit(*engine, second).ok());
  Totals b = RunCounting(*engine);
  const Completion& c = b.done["second"];
  EXPECT_EQ(c.state, JobState::kSucceeded);
  EXPECT_EQ(c.usage.prompt_tokens, prompt);
  // All of the document is reused; only what differs (the question) is read.
  EXPECT_GT(c.usage.cached_tokens, prompt - 20) << c.usage.cached_tokens << " of " << prompt;
  EXPECT_LT(c.usage.cached_tokens, prompt);
  EXPECT_EQ(b.prompt_tokens_read, prompt - c.usage.cached_tokens);
  EXPECT_EQ(b.reused, c.usage.cached_tokens);

  const Completion solo = Alone(second);
  EXPECT_EQ(solo.usage.cached_tokens, 0);
  EXPECT_EQ(c.output, solo.output);
  EXPECT_EQ(c.usage.completion_tokens, solo.usage.completion_tokens);
}

TEST(PrefixCacheTest, QuestionsAdmittedTogetherReadTheDocumentOnce) {
  const std::vector<std::string> questions = {"Who came back?", "When did the tide turn?",
                                              "How many lines are there?", "What is line 3?"};
  auto run = [&](bool prefix_cache) {
    auto engine = LoadEngine(4, 8192, prefix_cache);
    EXPECT_NE(engine, nullptr);
    for (size_t i = 0; i < questions.size(); ++i) {
      EXPECT_TRUE(Admit(*engine, Question("q" + std::to_string(i), kDocument, questions[i])).ok());
    }
    return RunCounting(*engine);
  };
  auto counter = LoadEngine(1);
  ASSERT_NE(counter, nullptr);
  const int64_t prompt = PromptTokens(*counter, Question("q", kDocument, questions[0]));

  const Totals off = run(false);
  const Totals on = run(true);
  ASSERT_EQ(off.done.size(), questions.size());
  ASSERT_EQ(on.done.size(), questions.size());
  EXPECT_GE(off.prompt_tokens_read, 4 * (prompt - 10));
  EXPECT_EQ(off.reused, 0);
  // One reads the document, the other three wait for it and read only their questions.
  EXPECT_LT(on.prompt_tokens_read, prompt + 3 * 30) << "of " << prompt << " per job";
  int64_t cached = 0, followers = 0;
  for (const auto& [id, c] : on.done) {
    cached += c.usage.cached_tokens;
    followers += c.usage.cached_tokens > prompt / 2 ? 1 : 0;
    EXPECT_EQ(c.state, JobState::kSucceeded) << id;
    EXPECT_EQ(c.output, off.done.at(id).output) << id;
    EXPECT_EQ(c.usage.prompt_tokens, off.done.at(id).usage.prompt_tokens) << id;
  }
  EXPECT_EQ(followers, 3);
  EXPECT_EQ(on.reused, cached);
  EXPECT_EQ(on.prompt_tokens_read + cached, off.prompt_tokens_read);
}

// The scheduler's foresight of when a job ends (sched/first_end.h) needs to know which
// running job waits for which, and for how many tokens it will not read itself.
TEST(PrefixCacheTest, AFollowerSaysWhoseReadingItWaitsForUntilItTakesThePrefix) {
  auto engine = LoadEngine(2, 8192);
  ASSERT_NE(engine, nullptr);
  const Job donor = Question("donor", kDocument, "Who came back?");
  const Job follower = Question("follower", kDocument, "When did the tide turn?");
  const int64_t prompt = PromptTokens(*engine, follower);
  ASSERT_TRUE(Admit(*engine, donor).ok());
  ASSERT_TRUE(Admit(*engine, follower).ok());

  EXPECT_FALSE(engine->WaitsForPrefix("donor").has_value());
  EXPECT_FALSE(engine->WaitsForPrefix("no-such-job").has_value());
  const auto wait = engine->WaitsForPrefix("follower");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->donor_job, "donor");
  EXPECT_GT(wait->shared_tokens, prompt - 20) << "of " << prompt;
  EXPECT_LT(wait->shared_tokens, prompt);

  int64_t followers_read = 0;
  for (int i = 0; i < 1000 && engine->WaitsForPrefix("follower"); ++i) {
    for (const auto& [id, progress, text] : engine->Step().progressed) {
      if (id == "follower") followers_read = progress.prompt_tokens_read;
    }
  }
  EXPECT_FALSE(engine->WaitsForPrefix("follower").has_value());
  EXPECT_GE(followers_read, wait->shared_tokens);  // took them, as it was said
  RunCounting(*engine);
}

TEST(PrefixCacheTest, ASharedPrefixTakesItsMemoryOnce) {
  // Room for two of the jobs apart; sharing the document, three fit.
  auto counter = LoadEngine(1);
  ASSERT_NE(counter, nullptr);
  const int64_t prompt = PromptTokens(*counter, Question("j", kDocument, "Question 0", 8));
  const int64_t ctx = 2 * (prompt + 8) + 100;
  auto admit_three = [&](bool prefix_cache) {
    auto engine = LoadEngine(3, ctx, prefix_cache);
    EXPECT_NE(engine, nullptr);
    std::vector<StatusCode> codes;
    for (int i = 0; i < 3; ++i) {
      const std::string n = std::to_string(i);
      codes.push_back(Admit(*engine, Question("j" + n, kDocument, "Question " + n, 8)).code());
    }
    return codes;
  };
  EXPECT_EQ(admit_three(false), (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kOk,
                                                         StatusCode::kResourceExhausted}));
  EXPECT_EQ(admit_three(true),
            (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kOk, StatusCode::kOk}));
}

TEST(PrefixCacheTest, ARunningFollowerKeepsTheCellsOfAFinishedDonor) {
  auto engine = LoadEngine(2);
  ASSERT_NE(engine, nullptr);
  const Job donor = Question("donor", kDocument, "Who?", 2);
  const Job follower = Question("follower", kDocument, "Why did the gulls come back?", 200);
  const int64_t follower_prompt = PromptTokens(*engine, follower);
  ASSERT_TRUE(Admit(*engine, donor).ok());
  ASSERT_TRUE(Admit(*engine, follower).ok());
  bool donor_done = false;
  for (int i = 0; i < 1000 && !donor_done; ++i) {
    for (const auto& f : engine->Step().finished) donor_done |= f.id == "donor";
  }
  ASSERT_TRUE(donor_done);
  ASSERT_EQ(engine->ActiveSequences(), 1);
  // The donor's slot is warm, but the document cells the follower shares cannot be freed:
  // what is available is everything but the follower's whole context.
  EXPECT_EQ(engine->FreeKvTokens(), engine->info().ctx_size - follower_prompt - 200);
  // A different document evicts the donor's own cells and runs beside the follower.
  const Job other = Question("other", Document(30).substr(40), "And?", 4);
  ASSERT_TRUE(Admit(*engine, other).ok());
  Totals rest = RunCounting(*engine);
  EXPECT_EQ(rest.done["follower"].output, Alone(follower).output);
  EXPECT_EQ(rest.done["other"].output, Alone(other).output);
  EXPECT_GT(rest.done["follower"].usage.cached_tokens, follower_prompt - 20);
}

TEST(PrefixCacheTest, AFollowerOfACancelledDonorReadsTheRestItself) {
  LlamaEngineOptions o = TestOptions(2);
  o.batch_size = 64;  // the document takes several steps
  auto loaded = LoadWith(o);
  ASSERT_NE(loaded, nullptr);
  LlamaEngine& engine = *loaded;
  const Job follower = Question("follower", kDocument, "When did the tide turn?");
  ASSERT_TRUE(Admit(engine, Question("donor", kDocument, "Who came back?")).ok());
  ASSERT_TRUE(Admit(engine, follower).ok());
  for (int i = 0; i < 2; ++i) {
    for (const auto& p : engine.Step().progressed) EXPECT_EQ(p.id, "donor") << "step " << i;
  }
  engine.Stop("donor", JobState::kCancelled);
  Totals rest = RunCounting(engine);
  EXPECT_EQ(rest.done["donor"].state, JobState::kCancelled);
  const Completion& c = rest.done["follower"];
  EXPECT_EQ(c.state, JobState::kSucceeded);
  EXPECT_EQ(c.usage.cached_tokens, 128);  // the two steps the donor read
  EXPECT_EQ(c.output, Alone(follower).output);
}

// A follower whose donor stops early will read the rest itself: from that moment its
// memory counts in full, so a newcomer cannot take the cells it still needs.
TEST(PrefixCacheTest, AFollowerOfAStoppedDonorKeepsTheMemoryItStillNeeds) {
  LlamaEngineOptions o = TestOptions(3, 2048);
  o.batch_size = 64;
  auto loaded = LoadWith(o);
  ASSERT_NE(loaded, nullptr);
  LlamaEngine& engine = *loaded;
  ASSERT_EQ(engine.info().ctx_size, 2048);
  const Job follower = Question("follower", kDocument, "When did the tide turn?", 8);
  ASSERT_TRUE(Admit(engine, Question("donor", kDocument, "Who came back?", 2)).ok());
  ASSERT_TRUE(Admit(engine, follower).ok());
  (void)engine.Step();  // the donor reads 64 tokens; the follower waits for more
  engine.Stop("donor", JobState::kCancelled);
  // Room for this one only if the follower's document were still coming from the donor.
  Job other = Question("other", kDocument.substr(30), "And?", 1);
  other.request.sampling.max_tokens = static_cast<int32_t>(1900 - PromptTokens(engine, other));
  EXPECT_EQ(Admit(engine, other).code(), StatusCode::kResourceExhausted);
  Totals rest = RunCounting(engine);
  EXPECT_EQ(rest.done["follower"].state, JobState::kSucceeded)
      << rest.done["follower"].error_message;
  EXPECT_EQ(rest.done["follower"].usage.cached_tokens, 64);
  EXPECT_EQ(rest.done["follower"].output, Alone(follower).output);
}

TEST(PrefixCacheTest, WarmSlotsGiveTheirMemoryToNewDocuments) {
  // Room for one of the documents at a time.
  const Job a = Question("a", kDocument, "Who?", 8);
  const Job b = Question("b", kDocument.substr(30), "What?", 8);
  auto counter = LoadEngine(1);
  ASSERT_NE(counter, nullptr);
  const int64_t prompt = std::max(PromptTokens(*counter, a), PromptTokens(*counter, b));
  auto engine = LoadEngine(2, prompt + 100);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Admit(*engine, a).ok());
  const Completion first = RunAll(*engine)["a"];
  EXPECT_EQ(first.state, JobState::kSucceeded);
  const Status admitted = Admit(*engine, b);  // needs the memory a's warm slot holds
  ASSERT_TRUE(admitted.ok()) << admitted.ToString();
  EXPECT_EQ(RunAll(*engine)["b"].state, JobState::kSucceeded);
  ASSERT_TRUE(Admit(*engine, a).ok());
  const Completion again = RunAll(*engine)["a"];
  EXPECT_EQ(again.usage.cached_tokens, 0);  // evicted
  EXPECT_EQ(again.output, first.output);
}

// Many jobs on a few documents, admitted as memory allows, some cancelled at random
// points, in a context too small for all of them: no job fails for want of KV, and every
// answer is the one the job gives alone.
TEST(PrefixCacheTest, ARandomMixNeverRunsOutOfMemoryAndAnswersAsAlone) {
  const std::vector<std::string> documents = {kDocument, Document(12), kDocument.substr(200)};
  std::mt19937 rng(7);
  std::vector<Job> jobs;
  for (int i = 0; i < 24; ++i) {
    const std::string& doc = documents[rng() % documents.size()];
    jobs.push_back(Question("j" + std::to_string(i), doc, "Question " + std::to_string(rng() % 5),
                            static_cast<int32_t>(4 + rng() % 40)));
  }
  LlamaEngineOptions o = TestOptions(4, 2600);  // about two documents and a half
  o.batch_size = 256;
  auto loaded = LoadWith(o);
  ASSERT_NE(loaded, nullptr);
  LlamaEngine& engine = *loaded;

  std::map<std::string, Completion> done;
  std::set<std::string> cancelled;
  size_t next = 0;
  int64_t reused = 0;
  for (int step = 0; step < 20000 && done.size() < jobs.size(); ++step) {
    while (next < jobs.size() && engine.FreeSlots() > 0) {
      const Status s = Admit(engine, jobs[next]);
      if (s.code() == StatusCode::kResourceExhausted && engine.ActiveSequences() > 0) break;
      ASSERT_TRUE(s.ok()) << s.ToString();
      ++next;
    }
    if (rng() % 40 == 0 && next > 0) {
      const std::string& id = jobs[rng() % next].id;
      if (!done.count(id) && cancelled.insert(id).second) engine.Stop(id, JobState::kCancelled);
    }
    StepReport r = engine.Step();
    reused += r.reused_prompt_tokens;
    for (auto& f : r.finished) done[f.id] = std::move(f.completion);
  }
  ASSERT_EQ(done.size(), jobs.size());
  EXPECT_GT(reused, 0);
  for (const Job& job : jobs) {
    const Completion& c = done[job.id];
    if (cancelled.count(job.id) && c.state == JobState::kCancelled) continue;
    ASSERT_EQ(c.state, JobState::kSucceeded) << job.id << ": " << c.error_message;
    EXPECT_EQ(c.output, Alone(job).output) << job.id;
  }
  EXPECT_EQ(engine.FreeKvTokens(), engine.info().ctx_size);
}

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("glmq-prefix-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::unique_ptr<LlamaEngine> LoadWithDisk(int64_t ctx, const std::string& dir,
                                          int64_t disk_bytes = 64 << 20) {
  LlamaEngineOptions o = TestOptions(1, ctx);
  o.prefix_cache_dir = dir;
  o.prefix_cache_disk_bytes = disk_bytes;
  return LoadWith(o);
}

size_t FilesIn(const std::string& dir, const std::string& extension) {
  size_t n = 0;
  for (const auto& item : std::filesystem::recursive_directory_iterator(dir)) {
    n += item.path().extension() == extension ? 1 : 0;
  }
  return n;
}

// A document evicted from memory for another one is saved, and loaded again (not read) by
// the next question on it, with the answer it gives alone.
TEST(PrefixCacheTest, AnEvictedDocumentIsSavedToDiskAndLoadedBack) {
  const std::string dir = TempDir("evict");
  const Job a = Question("a", kDocument, "Who?", 8);
  const Job b = Question("b", kDocument.substr(30), "What?", 8);
  auto counter = LoadEngine(1);
  ASSERT_NE(counter, nullptr);
  const int64_t prompt = std::max(PromptTokens(*counter, a), PromptTokens(*counter, b));
  auto engine = LoadWithDisk(prompt + 100, dir);  // room for one document
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Admit(*engine, a).ok());
  EXPECT_EQ(RunAll(*engine)["a"].usage.cached_tokens, 0);
  EXPECT_EQ(FilesIn(dir, ".kv"), 0u);   // warm in memory: nothing written yet
  ASSERT_TRUE(Admit(*engine, b).ok());  // evicts a's document: saved first
  EXPECT_EQ(RunAll(*engine)["b"].usage.cached_tokens, 0);
  EXPECT_EQ(FilesIn(dir, ".kv"), 1u);

  const Job again = Question("again", kDocument, "When did the tide turn?", 8);
  ASSERT_TRUE(Admit(*engine, again).ok());
  const Completion c = RunAll(*engine)["again"];
  EXPECT_EQ(c.state, JobState::kSucceeded);
  EXPECT_GT(c.usage.cached_tokens, prompt - 40) << "of " << prompt;
  EXPECT_EQ(c.output, Alone(again).output);
  engine.reset();
  std::filesystem::remove_all(dir);
}

// What is warm at shutdown is saved, and a new engine on the same directory starts from it.
TEST(PrefixCacheTest, ASavedDocumentOutlivesTheEngine) {
  const std::string dir = TempDir("restart");
  const Job first = Question("first", kDocument, "Who came back?", 8);
  const Job later = Question("later", kDocument, "How many lines are there?", 8);
  {
    auto engine = LoadWithDisk(4096, dir);
    ASSERT_NE(engine, nullptr);
    ASSERT_TRUE(Admit(*engine, first).ok());
    EXPECT_EQ(RunAll(*engine)["first"].state, JobState::kSucceeded);
  }
  EXPECT_EQ(FilesIn(dir, ".kv"), 1u);
  EXPECT_EQ(FilesIn(dir, ".tokens"), 1u);
  auto engine = LoadWithDisk(4096, dir);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Admit(*engine, later).ok());
  const Completion c = RunAll(*engine)["later"];
  EXPECT_GT(c.usage.cached_tokens, 900);
  EXPECT_EQ(c.output, Alone(later).output);
  engine.reset();  // it saves what is warm
  std::filesystem::remove_all(dir);
}

// A budget too small for one saved document keeps none.
TEST(PrefixCacheTest, TheDiskTierStaysWithinItsBudget) {
  const std::string dir = TempDir("budget");
  {
    auto engine = LoadWithDisk(4096, dir, /*disk_bytes=*/4096);
    ASSERT_NE(engine, nullptr);
    ASSERT_TRUE(Admit(*engine, Question("q", kDocument, "Who?", 4)).ok());
    RunAll(*engine);
  }
  EXPECT_EQ(FilesIn(dir, ".kv"), 0u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace glmq

namespace glmq {
namespace {

Job TenantQuestion(const std::string& id, const std::string& tenant, const std::string& document,
                   const std::string& question) {
  Job job = Question(id, document, question, 8);
  job.tenant = tenant;
  return job;
}

// The cache is partitioned by tenant: a job never reuses KV another tenant's job computed,
// warm, being read, or on disk, so cached_tokens and timing say nothing of other tenants'
// documents; with the global scope it does.
TEST(PrefixCacheTest, ATenantNeverReusesAnotherTenantsKvUnlessTheScopeIsGlobal) {
  const std::string dir = TempDir("tenants");
  const Job probe = TenantQuestion("probe", "legal", kDocument, "When did the tide turn?");
  auto counter = LoadEngine(1);
  ASSERT_NE(counter, nullptr);
  const int64_t prompt = PromptTokens(*counter, probe);
  LlamaEngineOptions o = TestOptions(2, 4 * prompt);
  o.prefix_cache_dir = dir;
  o.prefix_cache_disk_bytes = 64 << 20;
  auto engine = LoadWith(o);
  ASSERT_NE(engine, nullptr);

  // Warm in memory, and being read at the same time: legal reads it all itself.
  ASSERT_TRUE(Admit(*engine, TenantQuestion("a", "finance", kDocument, "Who came back?")).ok());
  ASSERT_TRUE(Admit(*engine, probe).ok());
  auto done = RunAll(*engine);
  EXPECT_EQ(done["probe"].usage.cached_tokens, 0);
  EXPECT_EQ(done["probe"].output, Alone(probe).output);
  ASSERT_TRUE(Admit(*engine, TenantQuestion("b", "finance", kDocument, "What?")).ok());
  EXPECT_GT(RunAll(*engine)["b"].usage.cached_tokens, prompt - 20);  // its own tenant's

  // On disk (saved at shutdown): found again by its tenant only.
  engine.reset();
  engine = LoadWith(o);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Admit(*engine, TenantQuestion("c", "ops", kDocument, "Where?")).ok());
  EXPECT_EQ(RunAll(*engine)["c"].usage.cached_tokens, 0);
  ASSERT_TRUE(Admit(*engine, TenantQuestion("d", "finance", kDocument, "Why?")).ok());
  EXPECT_GT(RunAll(*engine)["d"].usage.cached_tokens, prompt - 20);
  engine.reset();
  std::filesystem::remove_all(dir);

  LlamaEngineOptions global = TestOptions(1, 4 * prompt);
  global.prefix_cache_scope = LlamaEngineOptions::PrefixCacheScope::kGlobal;
  engine = LoadWith(global);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Admit(*engine, TenantQuestion("e", "finance", kDocument, "Who came back?")).ok());
  RunAll(*engine);
  ASSERT_TRUE(Admit(*engine, probe).ok());
  EXPECT_GT(RunAll(*engine)["probe"].usage.cached_tokens, prompt - 20);
}

}  // namespace
}  // namespace glmq
