#include "admission/admission.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sched/fake_engine.h"
#include "store/sqlite_store_fixture.h"

namespace glmq {
namespace {

// Rates that do not move: 1,000 prompt tokens a second; by default no job running and no
// sequence free.
class FixedCapacity final : public CapacitySource {
 public:
  FixedCapacity() {
    capacity.rates.prefill_tokens_per_second = 1000;
    capacity.rates.decode_tokens_per_second = 100;
    capacity.rates.single_decode_tokens_per_second = 50;
    capacity.rates.completion_ratio = 1.0;
    capacity.engines = 1;
  }
  Capacity Now() const override { return capacity; }
  Capacity capacity;
};

ModelInfo Model() {
  ModelInfo info;
  info.ctx_size = 1 << 20;
  return info;
}

class AdmissionTest : public SqliteStoreTest {
 protected:
  void TearDown() override {
    admission_.reset();
    SqliteStoreTest::TearDown();
  }
  void Start(PolicyOptions policy, AdmissionOptions options = {}) {
    admission_ =
        std::make_unique<Admission>(*store_, tokenizer_, capacity_, policy, options, pool_);
  }
  // Waits for what the pool's one thread was given before (the settle steps).
  void DrainPool() {
    std::promise<void> drained;
    asio::post(pool_, [&drained] { drained.set_value(); });
    drained.get_future().wait();
  }
  // A job of `bytes` prompt tokens (FakeTokenizer: one a byte, and a few more).
  static JobRequest Request(size_t bytes) {
    JobRequest r;
    r.text = std::string(bytes, 'x');
    r.question = "?";
    r.sampling.max_tokens = 10;
    return r;
  }
  Admission::Prepared Prepare(size_t bytes) {
    auto prepared = admission_->Prepare("t", Request(bytes));
    EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
    return std::move(prepared).value();
  }
  Job Submit(size_t bytes) {
    auto accepted = admission_->InsertNow(Prepare(bytes));
    EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
    return std::move(accepted)->job;
  }
  // A job's work at FixedCapacity's rates: 1 ms a prompt token, 10 ms a token to generate.
  static double Work(const Job& job) {
    return static_cast<double>(job.prompt_tokens) * 0.001 + job.request.sampling.max_tokens * 0.01;
  }
  // The wait of the work queued before this job, with no overtaking foreseen.
  double WaitAhead(const Job& job, WaitModel model) {
    auto ahead = store_->WorkBefore(job.order_key);
    EXPECT_TRUE(ahead.ok());
    model.overtaking_lines = 0;
    return model.Seconds(ahead->prompt_tokens, ahead->max_tokens);
  }

  FakeTokenizer tokenizer_{Model()};
  FixedCapacity capacity_;
  asio::thread_pool pool_{1};
  std::unique_ptr<Admission> admission_;
};

TEST_F(AdmissionTest, ALongJobIsToldOfTheShorterOnesExpectedToArriveAfterIt) {
  Start(PolicyOptions{});
  Submit(3000);
  for (int i = 0; i < 6; ++i) Submit(20);
  // Shorter jobs keep arriving: a long one (another document) is told they will overtake it.
  Admission::Prepared long_job = Prepare(3001);
  EXPECT_GT(long_job.job.wait.overtaking_lines, 0);
  const WaitModel model = long_job.job.wait;
  auto accepted = admission_->InsertNow(std::move(long_job));
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  const double ahead = WaitAhead(accepted->job, model);
  EXPECT_GT(accepted->job.estimated_wait_seconds, ahead + 0.05);
  EXPECT_NEAR(accepted->job.estimated_wait_seconds, model.Overtaken(ahead), 1e-9);
  auto current = admission_->CurrentWaitSeconds(accepted->job);
  ASSERT_TRUE(current.ok());
  EXPECT_GT(*current, ahead + 0.05);
  // A job as short as the ones arriving is overtaken by none of them. (A millisecond later
  // than the last: with the same order key, the store puts the one inserted first ahead of
  // it, and WorkBefore, which counts only smaller keys, would leave that one out.)
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const Job short_job = Submit(20);
  EXPECT_NEAR(short_job.estimated_wait_seconds, WaitAhead(short_job, model), 1e-9);
}

// Two gateways on one queue, each told what the other accepted (Admission::TellPeers, over
// Redis in a deployment): the jobs one accepted are foreseen by the other's forecasts, and
// a question reaching the other sorts with its document's first job and reads only itself.
TEST_F(AdmissionTest, AGatewayForeseesAndGroupsWhatAnotherGatewayAccepted) {
  Start(PolicyOptions{});
  Admission peer(*store_, tokenizer_, capacity_, PolicyOptions{}, AdmissionOptions{}, pool_);
  auto prepare_on_peer = [&peer](size_t bytes) {
    auto prepared = peer.Prepare("t", Request(bytes));
    EXPECT_TRUE(prepared.ok());
    return std::move(prepared).value();
  };
  // Not linked yet: the peer knows nothing of what this one accepts.
  Submit(2500);
  for (int i = 0; i < 6; ++i) Submit(20);
  EXPECT_EQ(prepare_on_peer(2500).job.job.shared_prompt_tokens, 0);
  EXPECT_EQ(prepare_on_peer(3001).job.wait.overtaking_lines, 0);
  admission_->TellPeers([&peer](std::string line) { peer.NotePeers(line); });
  const Job reader = Submit(3000);
  for (int i = 0; i < 6; ++i) Submit(20);
  EXPECT_GT(prepare_on_peer(3001).job.wait.overtaking_lines, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  Admission::Prepared question = prepare_on_peer(3000);
  EXPECT_EQ(question.job.job.shared_prompt_tokens,
            DocumentMemory::DocumentTokens(Request(3000), question.job.job.prompt_tokens));
  EXPECT_GT(question.job.job.shared_prompt_tokens, 0);
  EXPECT_EQ(question.job.job.order_key - reader.order_key,
            question.job.job.created_at - reader.created_at);
}

// Questions on one document: the engine reads it once (the prefix cache), so a second
// question counts only its own tokens as work, and a job behind both is told one reading.
TEST_F(AdmissionTest, AQuestionOnADocumentAcceptedLatelyCountsOnlyItsOwnTokens) {
  Start(PolicyOptions{});
  const Job first = Submit(3000);
  EXPECT_EQ(first.shared_prompt_tokens, 0);
  const Job second = Submit(3000);
  EXPECT_EQ(second.prompt_tokens, first.prompt_tokens);
  EXPECT_GE(second.shared_prompt_tokens, second.prompt_tokens - 5);
  EXPECT_LT(second.shared_prompt_tokens, second.prompt_tokens);
  const Job behind = Submit(3500);  // another document, sorting after both
  auto ahead = store_->WorkBefore(behind.order_key);
  ASSERT_TRUE(ahead.ok());
  EXPECT_EQ(ahead->jobs, 2);
  EXPECT_EQ(ahead->prompt_tokens,
            first.prompt_tokens + second.prompt_tokens - second.shared_prompt_tokens);
  // Another tenant's jobs do not share it.
  auto other = admission_->InsertNow(*admission_->Prepare("other", Request(3000)));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->job.shared_prompt_tokens, 0);
  // A document whose job the store refused was never read.
  store_->InjectWriteFault(true);
  EXPECT_FALSE(admission_->InsertNow(Prepare(5000)).ok());
  store_->InjectWriteFault(false);
  EXPECT_EQ(Submit(5000).shared_prompt_tokens, 0);
  EXPECT_GT(Submit(5000).shared_prompt_tokens, 0);
}

// A question on a document sorts with the document's first job, right behind it, even when
// it asks for a shorter answer (alone, it would sort before the job that reads the document
// and read it itself) and whatever other documents arrive meanwhile. (In the virtual-deadline
// order alone, where a shorter document arriving later overtakes the first job: with kept
// estimates it would not, the first job being told it starts now.)
TEST_F(AdmissionTest, AQuestionSortsRightBehindItsDocumentsFirstJob) {
  Start(PolicyOptions{.keep_estimates = false});
  const Job reader = Submit(3000);  // max_tokens 10
  const Job other = Submit(2500);   // another document, sorting before it
  JobRequest question = Request(3000);
  question.sampling.max_tokens = 2;  // 160 ms less of answer at 50 tokens a second
  // A millisecond later than the reader at least: with the same key, WorkBefore, which
  // counts only smaller keys, would leave the reader out.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto accepted = admission_->InsertNow(*admission_->Prepare("t", question));
  ASSERT_TRUE(accepted.ok());
  const Job& asked = accepted->job;
  EXPECT_GT(asked.shared_prompt_tokens, 0);
  EXPECT_EQ(asked.order_key - reader.order_key, asked.created_at - reader.created_at);
  EXPECT_LT(other.order_key, reader.order_key);
  auto ahead = store_->WorkBefore(asked.order_key);
  ASSERT_TRUE(ahead.ok());
  EXPECT_EQ(ahead->jobs, 2);  // the reader and the other document
  // The queue runs the reader first, then the question, the other document before both.
  for (const std::string& id : {other.id, reader.id, asked.id}) {
    auto claimed = store_->ClaimNext("w", 30000);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    EXPECT_EQ((*claimed)->id, id);
  }
}

// A large document is counted after its 202 (the settle step), its question too, and the
// settle step keeps the question right behind the document's first job: it prices the exact
// count with the answer the first job asked for, not its own longer one, which would let
// another document sort between them.
TEST_F(AdmissionTest, AQuestionOnALargeDocumentStaysBehindItsFirstJobOnceBothAreCounted) {
  AdmissionOptions options;
  options.sync_count_bytes = 1000;  // a 3,000-byte document is counted after its 202
  Start(PolicyOptions{}, options);
  const Job reader = Submit(3000);  // max_tokens 10
  JobRequest other_request = Request(2999);
  other_request.text.back() = 'y';  // another document of the same size
  other_request.sampling.max_tokens = 100;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto other = admission_->InsertNow(*admission_->Prepare("t", other_request));
  ASSERT_TRUE(other.ok());
  JobRequest question = Request(3000);
  question.sampling.max_tokens = 200;  // 3.8 s more of answer than the reader's, alone
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto asked = admission_->InsertNow(*admission_->Prepare("t", question));
  ASSERT_TRUE(asked.ok());
  EXPECT_TRUE(asked->prompt_tokens_estimated);
  EXPECT_EQ(asked->job.order_key - reader.order_key, asked->job.created_at - reader.created_at);
  DrainPool();  // all three counted and re-keyed
  auto stored = store_->Get(asked->job.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->order_key - reader.order_key, stored->created_at - reader.created_at);
  for (const std::string& id : {reader.id, asked->job.id, other->job.id}) {
    auto claimed = store_->ClaimNext("w", 30000);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    EXPECT_EQ((*claimed)->id, id);
  }
}

// Five questions on a document submitted together, two sequences: the first question starts
// beside the document's job and waits in its sequence for the reading (the prefix cache), so
// the rest wait for the reading to end, however little of their own they have to read.
TEST_F(AdmissionTest, QuestionsOnADocumentStillBeingReadWaitForItOnceItsJobsHoldEverySequence) {
  capacity_.capacity.running_sequences = 1;
  capacity_.capacity.free_sequences = 1;
  Start(PolicyOptions{});
  const Job reader = Submit(6000);  // 6 s to read at 1,000 tokens a second
  Admission::Prepared first = Prepare(6000);
  EXPECT_GT(first.job.job.shared_prompt_tokens, 0);
  EXPECT_EQ(first.job.wait.at_least, 0);  // a sequence is free for it
  ASSERT_TRUE(admission_->InsertNow(std::move(first)).ok());
  Admission::Prepared second = Prepare(6000);
  // The reading ends 6 s after the reader starts; then the first of them to answer (10
  // tokens at 50 a second) frees a sequence.
  const double read_at_s =
      static_cast<double>(reader.created_at - second.job.job.created_at) / 1000.0 +
      reader.estimated_wait_seconds + 6.0;
  EXPECT_NEAR(second.job.wait.at_least, read_at_s + 0.2, 0.05);
  auto accepted = admission_->InsertNow(std::move(second));
  ASSERT_TRUE(accepted.ok());
  EXPECT_GE(accepted->job.estimated_wait_seconds, read_at_s + 0.15);
  // Another document is not held up by it here.
  EXPECT_EQ(Prepare(7000).job.wait.at_least, 0);
}

// (The virtual-deadline order alone: with kept estimates the question on the first document
// would sort with it, told it starts now, and nothing could overtake it.)
TEST_F(AdmissionTest, ASubmitTheStoreRefusedIsNoArrivalToForesee) {
  Start(PolicyOptions{.keep_estimates = false});
  Submit(3000);
  // Short jobs the store refuses (clients retrying through an outage) arrive not at all.
  store_->InjectWriteFault(true);
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(admission_->InsertNow(Prepare(20)).ok());
  store_->InjectWriteFault(false);
  EXPECT_EQ(Prepare(3000).job.wait.overtaking_lines, 0);
  // The same jobs accepted are foreseen.
  for (int i = 0; i < 6; ++i) Submit(20);
  EXPECT_GT(Prepare(3000).job.wait.overtaking_lines, 0);
}

// Kept estimates: a document told it starts in about 2.7 s sorts no later than that, so a
// shorter job arriving after it overtakes it only while it is due before that start. In the
// virtual-deadline order alone the same job overtakes it for as long as the document's
// whole slack (its service time, about 8 s).
TEST_F(AdmissionTest, ALaterJobOvertakesADocumentOnlyAsFarAsItsEstimateForesaw) {
  for (const bool keep : {true, false}) {
    SCOPED_TRACE(keep ? "kept estimates" : "virtual deadlines alone");
    Start(PolicyOptions{.keep_estimates = keep});
    const auto submit = [this](char letter, size_t bytes) {
      JobRequest r = Request(bytes);
      r.text.assign(bytes, letter);  // a document of its own
      auto accepted = admission_->InsertNow(*admission_->Prepare("t", r));
      EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      return std::move(accepted)->job;
    };
    const Job first = submit('a', 2000);    // nothing ahead: told 0 s
    const Job reader = submit('x', 8000);   // 8 s alone; `first` (2 s) ahead of it
    const Job question = submit('q', 100);  // a fraction of a second alone
    const Job later = submit('b', 4000);    // 4 s alone
    EXPECT_GE(reader.estimated_wait_seconds, Work(first));
    EXPECT_LT(reader.estimated_wait_seconds, 4.0);
    if (keep) {
      EXPECT_NEAR(static_cast<double>(reader.order_key - reader.created_at),
                  1000.0 * reader.estimated_wait_seconds, 1.0);
    } else {
      EXPECT_GT(static_cast<double>(reader.order_key - reader.created_at), 8000.0);
    }
    // Kept: `first` was told it starts now, and the reader about 2.7 s, and they keep to it.
    // Alone: by service time.
    const std::vector<std::string> order =
        keep ? std::vector{first.id, question.id, reader.id, later.id}
             : std::vector{question.id, first.id, later.id, reader.id};
    for (const std::string& id : order) {
      auto claimed = store_->ClaimNext("w", 30000);
      ASSERT_TRUE(claimed.ok() && claimed->has_value());
      EXPECT_EQ((*claimed)->id, id);
    }
  }
}

TEST_F(AdmissionTest, APromisedJobForeseesNoOvertakingItsPromiseBounds) {
  Start(PolicyOptions{.promised_order = true});
  Submit(3000);
  for (int i = 0; i < 6; ++i) Submit(20);
  EXPECT_EQ(Prepare(3000).job.wait.overtaking_lines, 0);
}

TEST_F(AdmissionTest, AJobThatFindsASequenceFreeIsToldWhatIsLeftOfTheStepInProgress) {
  // One job reads a long prompt in a step the engine expects to end in 2.5 s; the mean
  // remainder of recent steps is 0.1 s.
  capacity_.capacity.running.prompt_tokens = 10'000;
  capacity_.capacity.free_sequences = 1;
  capacity_.capacity.rates.step_residual_seconds = 0.1;
  capacity_.capacity.step_left_seconds = 2.5;
  capacity_.capacity.running_sequences = 1;
  Start(PolicyOptions{});
  const Job first = Submit(20);
  EXPECT_DOUBLE_EQ(first.estimated_wait_seconds, 2.5);
  // Behind it: that job runs in the free sequence once the step ends, sharing the engine
  // with the running one (twice its work), not after the 10 s of running work.
  EXPECT_NEAR(Submit(20).estimated_wait_seconds, 2.5 + 2 * Work(first), 1e-9);
  // Between steps, or where the engine cannot say: the mean remainder.
  for (int i = 0; i < 2; ++i) {  // the queue is empty again
    auto claimed = store_->ClaimNext("w", 30000);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
  }
  capacity_.capacity.step_left_seconds.reset();
  EXPECT_DOUBLE_EQ(Submit(20).estimated_wait_seconds, 0.1);
}

TEST_F(AdmissionTest, AJobThatFindsNoSequenceFreeIsToldWhenTheFirstRunningJobEnds) {
  // Two sequences, both busy: a document with 60 s of prompt left beside a question whose
  // end the engine foresees in 0.8 s.
  capacity_.capacity.running.prompt_tokens = 60'000;
  capacity_.capacity.running_sequences = 2;
  capacity_.capacity.first_end_seconds = 0.8;
  Start(PolicyOptions{});
  // Nothing ahead: it starts when the question ends, not after the document.
  const Job first = Submit(20);
  EXPECT_DOUBLE_EQ(first.estimated_wait_seconds, 0.8);
  // Behind it, a job waits for that one too, which runs beside the document at half the
  // engine: 0.8 s + twice its work.
  EXPECT_NEAR(Submit(20).estimated_wait_seconds, 0.8 + 2 * Work(first), 1e-9);
  // Where the first end is not foreseen: all the running work.
  capacity_.capacity.first_end_seconds.reset();
  EXPECT_GT(Submit(20).estimated_wait_seconds, 60);
}

}  // namespace
}  // namespace glmq
