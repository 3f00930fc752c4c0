#include "admission/insert_batcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

namespace glmq {

InsertBatcher::InsertBatcher(JobStore& store, Options options) : store_(store), options_(options) {
  for (int i = 0; i < std::max(options_.in_flight, 1); ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

InsertBatcher::~InsertBatcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::vector<Result<InsertBatcher::Inserted>> InsertBatcher::InsertNow(
    JobStore& store, std::vector<JobStore::NewJob> jobs) {
  std::vector<Result<JobStore::Placement>> placed;
  try {
    placed = store.InsertBatch(jobs);
  } catch (const std::exception& e) {
    spdlog::error("inserting a batch of {} jobs threw: {}", jobs.size(), e.what());
  }
  std::vector<Result<Inserted>> out;
  out.reserve(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (i >= placed.size()) {
      out.emplace_back(Internal("the job store failed to insert the batch"));
    } else if (!placed[i].ok()) {
      out.emplace_back(placed[i].status());
    } else {
      out.emplace_back(Inserted{std::move(jobs[i].job), *placed[i]});
    }
  }
  return out;
}

InsertBatcher::Counts InsertBatcher::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void InsertBatcher::Enqueue(JobStore::NewJob job, std::unique_ptr<Waiter> waiter) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back({std::move(job), std::move(waiter)});
      if (queue_.size() == 1 || queue_.size() == options_.min_overlap_jobs) cv_.notify_one();
      return;
    }
  }
  waiter->Done(Unavailable("the server is shutting down"));
}

void InsertBatcher::Loop() {
  while (true) {
    std::vector<JobStore::NewJob> jobs;
    std::vector<std::unique_ptr<Waiter>> waiters;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] {
        return stopping_ ||
               (!queue_.empty() && (writing_ == 0 || queue_.size() >= options_.min_overlap_jobs));
      });
      if (queue_.empty()) return;  // stopping, and everything accepted is written
      // Whatever queued while the last batch was written goes into this one.
      size_t bytes = 0;
      while (!queue_.empty() && jobs.size() < options_.max_jobs) {
        const size_t size = queue_.front().job.job.request.text.size();
        if (!jobs.empty() && bytes + size > options_.max_bytes) break;
        bytes += size;
        jobs.push_back(std::move(queue_.front().job));
        waiters.push_back(std::move(queue_.front().waiter));
        queue_.pop_front();
      }
      counts_.batches += 1;
      counts_.jobs += static_cast<int64_t>(jobs.size());
      writing_ += 1;
      // More than one batch's worth queued: another writer may take the rest now.
      if (queue_.size() >= options_.min_overlap_jobs) cv_.notify_one();
    }
    std::vector<Result<Inserted>> results = InsertNow(store_, std::move(jobs));
    {
      std::lock_guard lock(mu_);
      writing_ -= 1;
    }
    cv_.notify_one();  // a writer waiting for enough jobs to overlap may start on fewer now
    for (size_t i = 0; i < waiters.size(); ++i) waiters[i]->Done(std::move(results[i]));
  }
}

}  // namespace glmq
