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
  Run([this, id, worker, completion = std::move(completion)]() mutable {
    if (WriteOutcome(id, worker, completion)) return;
    std::lock_guard lock(mu_);
    kept_[id] = Kept{worker, std::move(completion), kFirstRetry,
                     std::chrono::steady_clock::now() + kFirstRetry};
  });
}

bool BackgroundWriter::WriteOutcome(const std::string& id, const std::string& worker,
                                    const Completion& completion) {
  const Status s = store_.Complete(id, worker, completion);
  if (s.ok()) return true;
  if (s.code() == StatusCode::kConflict || s.code() == StatusCode::kNotFound) {
    // Our lease ran out (we were paused or cut off) and the job went to another worker,
    // or it ended otherwise: its record keeps the first result.
    spdlog::warn("result of job {} discarded: {}", id, s.message());
    return true;
  }
  spdlog::warn("result of job {} not recorded yet (kept, and tried again): {}", id, s.ToString());
  return false;
}

void BackgroundWriter::RetryKept() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, Kept>> due;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, kept] : kept_) {
      if (kept.retry_at <= now || stopping_) due.emplace_back(id, kept);
    }
  }
  for (auto& [id, kept] : due) {
    const bool settled = WriteOutcome(id, kept.worker, kept.completion);
    std::lock_guard lock(mu_);
    auto it = kept_.find(id);
    if (it == kept_.end()) continue;
    if (settled) {
      kept_.erase(it);
    } else {
      it->second.backoff = std::min(kLongestRetry, it->second.backoff * 2);
      it->second.retry_at = std::chrono::steady_clock::now() + it->second.backoff;
    }
  }
}

std::vector<std::string> BackgroundWriter::HeldOutcomes() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, kept] : kept_) ids.push_back(id);
  return ids;
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
    auto has_work = [this] { return stopping_ || !tasks_.empty() || !progress_.empty(); };
    if (kept_.empty()) {
      cv_.wait(lock, has_work);
    } else {
      auto next = kept_.begin()->second.retry_at;
      for (const auto& [id, kept] : kept_) next = std::min(next, kept.retry_at);
      cv_.wait_until(lock, next, has_work);
    }
    std::map<std::string, JobProgress> progress;
    progress.swap(progress_);
    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    const bool stopping = stopping_;
    busy_ = true;
    lock.unlock();
    // Progress first: a job's last progress was handed over before its completion.
    for (const auto& [id, p] : progress) (void)store_.UpdateProgress(id, worker_, p);
    for (auto& task : tasks) task();
    RetryKept();
    lock.lock();
    busy_ = false;
    idle_cv_.notify_all();
    if (stopping && tasks_.empty() && progress_.empty()) break;
  }
  // What the store still refuses is lost with this process; its lease runs out and the
  // job runs again elsewhere.
  for (const auto& [id, kept] : kept_) {
    spdlog::error(
        "result of job {} not recorded before shutdown (the store refused it); the "
        "job runs again once its lease runs out",
        id);
  }
}

}  // namespace glmq
