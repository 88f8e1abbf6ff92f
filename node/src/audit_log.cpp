#include "audit_log.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <optional>

#include "dm2/storage/transaction.hpp"

namespace dm2::node {

struct audit_log::waiter {
  std::vector<storage::audit_event> events;  // one caller's, committed together
  std::optional<status> outcome;
  // Woken (under the mutex) when `outcome` is set or when this caller is to lead the next commit.
  std::condition_variable wake;
};

result<std::vector<storage::audit_entry>> audit_log::about(const std::set<std::string>& objects,
                                                          std::size_t limit) const {
  std::vector<storage::audit_entry> out;
  auto size = db_.audit_size();
  for (std::uint64_t i = 0; i < size; ++i) {
    auto e = db_.read_audit(i);
    if (!e) return std::move(e).err();
    if (!e->has_value() || !objects.count((**e).event.object)) continue;
    out.push_back(std::move(**e));
    if (out.size() > limit) out.erase(out.begin());
  }
  return out;
}

status audit_log::append(storage::audit_event event) {
  std::vector<storage::audit_event> one;
  one.push_back(std::move(event));
  return append_all(std::move(one));
}

status audit_log::append_all(std::vector<storage::audit_event> events) {
  if (events.empty()) return {};
  waiter self{std::move(events), std::nullopt, {}};
  std::unique_lock lock(mutex_);
  queue_.push_back(&self);
  // Leader/follower: whoever finds no commit under way writes (up to max_batch of) everything
  // queued so far in one commit, then steps down; the oldest caller still queued leads the next
  // commit. A leader writes one batch only, so no caller keeps committing others' entries under
  // load. Each caller is woken alone (its outcome is in, or it leads next), not all of them per
  // commit: on 2 cores the herd of wake-ups cost more CPU than the commits.
  while (!self.outcome) {
    if (leader_busy_) {
      self.wake.wait(lock);
      continue;
    }
    leader_busy_ = true;
    std::vector<waiter*> batch;
    auto take = std::min(queue_.size(), max_batch);
    batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    lock.unlock();
    auto outcomes = commit_batch(batch);
    lock.lock();
    ++commits_;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (outcomes[i]) entries_ += batch[i]->events.size();
      batch[i]->outcome = std::move(outcomes[i]);
      if (batch[i] != &self) batch[i]->wake.notify_one();
    }
    leader_busy_ = false;
    if (!queue_.empty()) queue_.front()->wake.notify_one();
  }
  if (!*self.outcome)
    spdlog::error("event=audit_failed action={} entries={} reason=\"{}\"", self.events.front().action,
                  self.events.size(), self.outcome->err().message);
  return std::move(*self.outcome);
}

std::vector<status> audit_log::commit_batch(const std::vector<waiter*>& batch) {
  storage::transaction t;
  for (auto* w : batch)
    for (const auto& e : w->events) t.append_audit(e);
  auto s = db_.commit(std::move(t));
  if (s || batch.size() == 1) return std::vector<status>(batch.size(), s);
  std::vector<status> outcomes;
  for (auto* w : batch) {
    storage::transaction one;
    for (const auto& e : w->events) one.append_audit(e);
    outcomes.push_back(db_.commit(std::move(one)));
  }
  return outcomes;
}

std::size_t audit_log::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

std::size_t audit_log::entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

}  // namespace dm2::node
