#include "sched/background_writer.h"

#include <spdlog/spdlog.h>

namespace glmq {

BackgroundWriter::BackgroundWriter(JobStore& store, std::string worker)
    : store_(store), worker_(std::move(worker)), thread_([this] { Loop(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundWriter::Progress(const std::string& id, const JobProgress& progress) {
  {
    std::lock_guard lock(mu_);
    progress_[id] = progress;
  }
  cv_.notify_one();
}

void BackgroundWriter::Complete(const std::string& id, const std::string& worker,
                                Completion completion) {
  Run([this, id, worker, completion = std::move(completion)] {
    const Status s = store_.Complete(id, worker, completion);
    if (s.code() == StatusCode::kConflict) {
      // Our lease ran out (we were paused or cut off) and the job went to another worker,
      // or it ended otherwise: its record keeps the first result.
      spdlog::warn("result of job {} discarded: {}", id, s.message());
    } else if (!s.ok()) {
      spdlog::warn("result of job {} not recorded: {}", id, s.ToString());
    }
  });
}

void BackgroundWriter::Run(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void BackgroundWriter::Flush() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return !busy_ && tasks_.empty() && progress_.empty(); });
}

void BackgroundWriter::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !tasks_.empty() || !progress_.empty(); });
    if (tasks_.empty() && progress_.empty()) break;  // stopping, and nothing left
    std::map<std::string, JobProgress> progress;
    progress.swap(progress_);
    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    busy_ = true;
    lock.unlock();
    // Progress first: a job's last progress was handed over before its completion.
    for (const auto& [id, p] : progress) (void)store_.UpdateProgress(id, worker_, p);
    for (auto& task : tasks) task();
    lock.lock();
    busy_ = false;
    idle_cv_.notify_all();
  }
}

}  // namespace glmq
