#include "ingest_status.hpp"

#include <ctime>

namespace dm2::node {
namespace {
std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }
constexpr std::size_t max_failures_listed = 100;  // a PACS full of bad series must not grow the report
}  // namespace

bool ingest_book::begin(const std::string& id, const std::string& trigger) {
  std::lock_guard lock(mutex_);
  if (current_) return false;
  current_.emplace();
  current_->id = id;
  current_->trigger = trigger;
  current_->started_at = now();
  under_way_.clear();
  return true;
}

void ingest_book::finish(const std::string& error) {
  std::lock_guard lock(mutex_);
  if (!current_) return;
  current_->finished_at = now();
  current_->state = error.empty() ? "done" : "failed";
  current_->error = error;
  current_->in_progress.clear();
  last_ = std::move(current_);
  current_.reset();
  under_way_.clear();
}

void ingest_book::add(std::uint64_t ingest_counts::*field, std::uint64_t by) {
  totals_.*field += by;
  if (current_) current_->counts.*field += by;
}

void ingest_book::seen() {
  std::lock_guard lock(mutex_);
  add(&ingest_counts::series_seen, 1);
}

void ingest_book::unchanged(const std::string& lfn) {
  std::lock_guard lock(mutex_);
  add(&ingest_counts::series_unchanged, 1);
  under_way_.erase(lfn);
}

void ingest_book::progress(const series_progress& p) {
  std::lock_guard lock(mutex_);
  under_way_[p.lfn] = p;
}

void ingest_book::fetched(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  add(&ingest_counts::series_fetched, 1);
  add(&ingest_counts::bytes_fetched, bytes);
}

void ingest_book::indexed(const std::string& lfn, std::uint64_t bytes_stored) {
  std::lock_guard lock(mutex_);
  add(&ingest_counts::series_indexed, 1);
  add(&ingest_counts::bytes_stored, bytes_stored);
  under_way_.erase(lfn);
}

void ingest_book::failed(series_failure f) {
  std::lock_guard lock(mutex_);
  add(&ingest_counts::series_failed, 1);
  under_way_.erase(f.lfn);
  if (current_ && current_->failures.size() < max_failures_listed) current_->failures.push_back(std::move(f));
}

bool ingest_book::running() const {
  std::lock_guard lock(mutex_);
  return current_.has_value();
}

ingest_report ingest_book::report(bool pacs_configured, std::int64_t sync_period_s) const {
  std::lock_guard lock(mutex_);
  ingest_report r{pacs_configured, sync_period_s, totals_, current_, last_};
  if (r.current)
    for (const auto& [lfn, p] : under_way_) r.current->in_progress.push_back(p);
  return r;
}

}  // namespace dm2::node
