#include "store/queue_index.h"

#include <algorithm>
#include <limits>
#include <string>

namespace glmq {
namespace {

using WorkAhead = JobStore::WorkAhead;

constexpr WorkAhead kNoWork{};

void Add(WorkAhead* sum, const WorkAhead& more) {
  sum->jobs += more.jobs;
  sum->prompt_tokens += more.prompt_tokens;
  sum->max_tokens += more.max_tokens;
}

void AddJob(WorkAhead* sum, const QueuedJob& job) {
  sum->jobs += 1;
  sum->prompt_tokens += job.prompt_tokens_to_read();
  sum->max_tokens += job.max_tokens;
}

bool SameWork(const WorkAhead& a, const WorkAhead& b) {
  return a.jobs == b.jobs && a.prompt_tokens == b.prompt_tokens && a.max_tokens == b.max_tokens;
}

std::string Describe(const QueueKey& key) {
  return "(" + std::to_string(key.order_key) + ", " + std::to_string(key.created_at) + ", " +
         std::to_string(key.seq) + ")";
}

std::string Describe(const WorkAhead& work) {
  return "{jobs " + std::to_string(work.jobs) + ", prompt_tokens " +
         std::to_string(work.prompt_tokens) + ", max_tokens " + std::to_string(work.max_tokens) +
         "}";
}

// SplitMix64: well-spread treap priorities from a counter. Any spread works; a fixed
// sequence keeps the shape of a tree reproducible from one run to the next.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The lowest key with this order key: every job below it has a strictly lower order key.
QueueKey FirstKeyOf(int64_t order_key) {
  return {order_key, std::numeric_limits<TimeMs>::min(), std::numeric_limits<int64_t>::min()};
}

}  // namespace

int32_t QueueTree::NewNode(const QueuedJob& job) {
  int32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& node = nodes_[index];
  node.job = job;
  node.subtree = kNoWork;
  AddJob(&node.subtree, job);
  node.priority = SplitMix64(next_priority_seed_++);
  node.left = kNil;
  node.right = kNil;
  return index;
}

const WorkAhead& QueueTree::Totals(int32_t node) const {
  return node == kNil ? kNoWork : nodes_[node].subtree;
}

void QueueTree::Pull(int32_t node) {
  Node& n = nodes_[node];
  WorkAhead totals = Totals(n.left);
  Add(&totals, Totals(n.right));
  AddJob(&totals, n.job);
  n.subtree = totals;
}

void QueueTree::Split(int32_t node, const QueueKey& key, int32_t* below, int32_t* rest) {
  if (node == kNil) {
    *below = kNil;
    *rest = kNil;
    return;
  }
  Node& n = nodes_[node];
  if (n.job.key < key) {
    Split(n.right, key, &n.right, rest);
    *below = node;
  } else {
    Split(n.left, key, below, &n.left);
    *rest = node;
  }
  Pull(node);
}

int32_t QueueTree::Merge(int32_t low, int32_t high) {
  if (low == kNil) return high;
  if (high == kNil) return low;
  if (nodes_[low].priority >= nodes_[high].priority) {
    const int32_t merged = Merge(nodes_[low].right, high);
    nodes_[low].right = merged;
    Pull(low);
    return low;
  }
  const int32_t merged = Merge(low, nodes_[high].left);
  nodes_[high].left = merged;
  Pull(high);
  return high;
}

int32_t QueueTree::InsertAt(int32_t node, int32_t fresh) {
  if (node == kNil) return fresh;
  Node& f = nodes_[fresh];
  if (f.priority > nodes_[node].priority) {
    Split(node, f.job.key, &f.left, &f.right);
    Pull(fresh);
    return fresh;
  }
  Node& n = nodes_[node];
  if (f.job.key < n.job.key) {
    n.left = InsertAt(n.left, fresh);
  } else {
    n.right = InsertAt(n.right, fresh);
  }
  Pull(node);
  return node;
}

int32_t QueueTree::EraseAt(int32_t node, const QueueKey& key, bool* erased) {
  if (node == kNil) return kNil;
  Node& n = nodes_[node];
  if (key == n.job.key) {
    const int32_t merged = Merge(n.left, n.right);
    free_slots_.push_back(node);
    *erased = true;
    return merged;
  }
  if (key < n.job.key) {
    n.left = EraseAt(n.left, key, erased);
  } else {
    n.right = EraseAt(n.right, key, erased);
  }
  if (*erased) Pull(node);
  return node;
}

void QueueTree::Insert(const QueuedJob& job) {
  // The node is made first: nodes_ may reallocate here, never during the walk below.
  const int32_t fresh = NewNode(job);
  root_ = InsertAt(root_, fresh);
  ++size_;
}

bool QueueTree::Erase(const QueueKey& key) {
  bool erased = false;
  root_ = EraseAt(root_, key, &erased);
  if (erased) --size_;
  return erased;
}

void QueueTree::Clear() {
  nodes_.clear();
  free_slots_.clear();
  root_ = kNil;
  size_ = 0;
}

WorkAhead QueueTree::Below(const QueueKey& key) const {
  WorkAhead sum;
  int32_t node = root_;
  while (node != kNil) {
    const Node& n = nodes_[node];
    if (n.job.key < key) {
      Add(&sum, Totals(n.left));
      AddJob(&sum, n.job);
      node = n.right;
    } else {
      node = n.left;
    }
  }
  return sum;
}

std::optional<QueuedJob> QueueTree::Min() const {
  if (root_ == kNil) return std::nullopt;
  int32_t node = root_;
  while (nodes_[node].left != kNil) node = nodes_[node].left;
  return nodes_[node].job;
}

template <typename Visit>
void QueueTree::WalkInOrder(Visit visit) const {
  std::vector<int32_t> path;
  int32_t node = root_;
  while (node != kNil || !path.empty()) {
    while (node != kNil) {
      path.push_back(node);
      node = nodes_[node].left;
    }
    node = path.back();
    path.pop_back();
    if (!visit(nodes_[node].job)) return;
    node = nodes_[node].right;
  }
}

std::optional<QueuedJob> QueueTree::FirstShorter(int64_t prompt_tokens_below, int scan) const {
  std::optional<QueuedJob> found;
  WalkInOrder([&](const QueuedJob& job) {
    if (job.prompt_tokens < prompt_tokens_below) found = job;
    return !found && --scan > 0;
  });
  return found;
}

std::vector<QueuedJob> QueueTree::InOrder() const {
  std::vector<QueuedJob> jobs;
  jobs.reserve(static_cast<size_t>(size_));
  WalkInOrder([&jobs](const QueuedJob& job) {
    jobs.push_back(job);
    return true;
  });
  return jobs;
}

Status QueueTree::CheckSubtree(int32_t node, const QueueKey* lower, const QueueKey* upper,
                               uint64_t max_priority, int64_t* count) const {
  if (node == kNil) return Status::Ok();
  if (node < 0 || static_cast<size_t>(node) >= nodes_.size() || ++*count > size_) {
    return Internal("queue tree: node " + std::to_string(node) + " is out of place");
  }
  const Node& n = nodes_[node];
  if ((lower != nullptr && !(*lower < n.job.key)) || (upper != nullptr && !(n.job.key < *upper))) {
    return Internal("queue tree: key " + Describe(n.job.key) + " is out of order");
  }
  if (n.priority > max_priority) {
    return Internal("queue tree: key " + Describe(n.job.key) + " breaks the heap order");
  }
  WorkAhead expected = Totals(n.left);
  Add(&expected, Totals(n.right));
  AddJob(&expected, n.job);
  if (!SameWork(expected, n.subtree)) {
    return Internal("queue tree: totals under " + Describe(n.job.key) + " are " +
                    Describe(n.subtree) + ", not " + Describe(expected));
  }
  GLMQ_RETURN_IF_ERROR(CheckSubtree(n.left, lower, &n.job.key, n.priority, count));
  return CheckSubtree(n.right, &n.job.key, upper, n.priority, count);
}

Status QueueTree::CheckInvariants() const {
  int64_t count = 0;
  GLMQ_RETURN_IF_ERROR(
      CheckSubtree(root_, nullptr, nullptr, std::numeric_limits<uint64_t>::max(), &count));
  if (count != size_) {
    return Internal("queue tree: holds " + std::to_string(count) + " jobs but counts " +
                    std::to_string(size_));
  }
  return Status::Ok();
}

void QueueIndex::Add(const std::string& id, const QueuedJob& job) {
  by_id_.emplace(id, job);
  tree_.Insert(job);
  auto& own = tenant_queues_[job.tenant];
  if (own.empty()) counters_.JoinBacklog(job.tenant);
  own.emplace(job.key, id);
}

void QueueIndex::Remove(std::unordered_map<std::string, QueuedJob>::iterator it, bool moving) {
  const QueuedJob& job = it->second;
  tree_.Erase(job.key);
  auto own = tenant_queues_.find(job.tenant);
  if (own != tenant_queues_.end()) {
    own->second.erase(job.key);
    if (own->second.empty()) {
      // A job that moves within its tenant's queue (a new size, a new key) does not make
      // the tenant leave and rejoin the backlog, which would lift its counter.
      if (!moving) counters_.LeaveBacklog(job.tenant);
      tenant_queues_.erase(own);
    }
  }
  by_id_.erase(it);
}

void QueueIndex::Reset(const std::vector<std::pair<std::string, QueuedJob>>& jobs) {
  std::lock_guard lock(mu_);
  while (!by_id_.empty()) Remove(by_id_.begin(), /*moving=*/false);
  tree_.Clear();
  by_id_.reserve(jobs.size());
  for (const auto& [id, job] : jobs) {
    if (auto it = by_id_.find(id); it != by_id_.end()) Remove(it, it->second.tenant == job.tenant);
    Add(id, job);
  }
}

void QueueIndex::Apply(const std::vector<QueueChange>& changes) {
  if (changes.empty()) return;
  std::lock_guard lock(mu_);
  for (const QueueChange& change : changes) {
    if (change.served) {
      counters_.Serve(change.served->tenant, change.served->prompt_tokens,
                      change.served->output_tokens);
    }
    if (change.id.empty()) continue;
    if (auto it = by_id_.find(change.id); it != by_id_.end()) {
      Remove(it, change.job && change.job->tenant == it->second.tenant);
    }
    if (change.job) Add(change.id, *change.job);
  }
}

void QueueIndex::SetFairShare(bool on) {
  std::lock_guard lock(mu_);
  fair_share_ = on;
}

void QueueIndex::SetWeights(TenantWeights weights) {
  std::lock_guard lock(mu_);
  counters_.SetWeights(std::move(weights));
}

double QueueIndex::ServiceOf(const std::string& tenant) const {
  std::lock_guard lock(mu_);
  return counters_.Counter(tenant);
}

JobStore::WorkAhead QueueIndex::WorkBefore(int64_t order_key) const {
  std::lock_guard lock(mu_);
  return tree_.Below(FirstKeyOf(order_key));
}

std::optional<QueuedJob> QueueIndex::Head(int64_t prompt_tokens_below,
                                          int64_t pass_over_from) const {
  const auto allowed = [prompt_tokens_below](const QueuedJob& job) {
    return prompt_tokens_below <= 0 || job.prompt_tokens < prompt_tokens_below;
  };
  std::lock_guard lock(mu_);
  if (fair_share_ && !tenant_queues_.empty()) {
    // Tenants by counter; of equal counters, the smaller next job (then the lesser name).
    const QueuedJob* head = nullptr;
    double head_counter = 0;
    for (const auto& [counter, tenant] : counters_.Ranked()) {
      if (head != nullptr && counter > head_counter) break;
      auto own = tenant_queues_.find(tenant);
      if (own == tenant_queues_.end() || own->second.empty()) continue;
      // The tenant's next job, past those too long for this claim.
      const QueuedJob* first = nullptr;
      int scan = JobStore::kPassOverScan;
      for (auto it = own->second.begin(); it != own->second.end() && scan-- > 0; ++it) {
        const QueuedJob& job = by_id_.at(it->second);
        if (pass_over_from <= 0 || job.prompt_tokens < pass_over_from) {
          first = &job;
          break;
        }
      }
      if (first == nullptr || !allowed(*first)) continue;
      if (head == nullptr ||
          first->prompt_tokens + first->max_tokens < head->prompt_tokens + head->max_tokens) {
        head = first;
        head_counter = counter;
      }
    }
    if (head == nullptr) return std::nullopt;
    return *head;
  }
  std::optional<QueuedJob> first = pass_over_from > 0
                                       ? tree_.FirstShorter(pass_over_from, JobStore::kPassOverScan)
                                       : tree_.Min();
  if (first && !allowed(*first)) return std::nullopt;
  return first;
}

JobStore::WorkAhead QueueIndex::WorkBefore(const QueueKey& key) const {
  std::lock_guard lock(mu_);
  return tree_.Below(key);
}

int64_t QueueIndex::JobsBefore(const QueueKey& key) const {
  std::lock_guard lock(mu_);
  return tree_.Below(key).jobs;
}

std::optional<int64_t> QueueIndex::Position(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return tree_.Below(it->second.key).jobs + 1;
}

int64_t QueueIndex::size() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(by_id_.size());
}

Status QueueIndex::CheckAgainst(std::vector<std::pair<std::string, QueuedJob>> queued) const {
  std::sort(queued.begin(), queued.end(),
            [](const auto& a, const auto& b) { return a.second.key < b.second.key; });
  std::lock_guard lock(mu_);
  GLMQ_RETURN_IF_ERROR(tree_.CheckInvariants());
  if (by_id_.size() != queued.size() || tree_.size() != static_cast<int64_t>(queued.size())) {
    return Internal("queue index: holds " + std::to_string(by_id_.size()) + " ids and " +
                    std::to_string(tree_.size()) + " keys, but " + std::to_string(queued.size()) +
                    " jobs are queued");
  }
  const std::vector<QueuedJob> in_order = tree_.InOrder();
  WorkAhead ahead;  // of queued[i], counted the plain way
  for (size_t i = 0; i < queued.size(); ++i) {
    const auto& [id, job] = queued[i];
    auto it = by_id_.find(id);
    if (it == by_id_.end() || !(it->second == job) || !(in_order[i] == job)) {
      return Internal("queue index: queued job " + id + " at " + Describe(job.key) +
                      " is missing or stale");
    }
    const WorkAhead below = tree_.Below(job.key);
    if (!SameWork(below, ahead)) {
      return Internal("queue index: ahead of " + id + " it counts " + Describe(below) + ", not " +
                      Describe(ahead));
    }
    // WorkBefore's key stops at the first job of an order key; check it there.
    if (i == 0 || queued[i - 1].second.key.order_key != job.key.order_key) {
      const WorkAhead before = tree_.Below(FirstKeyOf(job.key.order_key));
      if (!SameWork(before, ahead)) {
        return Internal("queue index: before order key " + std::to_string(job.key.order_key) +
                        " it counts " + Describe(before) + ", not " + Describe(ahead));
      }
    }
    AddJob(&ahead, job);
  }
  size_t in_tenant_queues = 0;
  for (const auto& [tenant, own] : tenant_queues_) {
    if (own.empty() || !counters_.IsBacklogged(tenant)) {
      return Internal("queue index: tenant '" + tenant + "' has " + std::to_string(own.size()) +
                      " queued jobs but is " +
                      (counters_.IsBacklogged(tenant) ? "backlogged" : "not backlogged"));
    }
    for (const auto& [key, id] : own) {
      auto it = by_id_.find(id);
      if (it == by_id_.end() || !(it->second.key == key) || it->second.tenant != tenant) {
        return Internal("queue index: tenant '" + tenant + "' lists job " + id + " at " +
                        Describe(key) + ", which is not queued there");
      }
    }
    in_tenant_queues += own.size();
  }
  if (in_tenant_queues != by_id_.size()) {
    return Internal("queue index: its tenants' queues hold " + std::to_string(in_tenant_queues) +
                    " jobs, not " + std::to_string(by_id_.size()));
  }
  return Status::Ok();
}

}  // namespace glmq
