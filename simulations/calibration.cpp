#include "calibration.hpp"

#include <fstream>

namespace dm2::sim {

void calibration::wrote(const std::string& lfn, std::vector<std::string> targets, dht::millis at) {
  if (!rest_ || killed_at_) return;
  pending_[lfn] = {at, {targets.begin(), targets.end()}};
}

void calibration::copied(const std::string& lfn, const std::string& site, dht::millis at) {
  auto it = pending_.find(lfn);
  if (it == pending_.end() || !it->second.missing.erase(site) || !it->second.missing.empty()) return;
  replicas_ms_.push_back(static_cast<double>((at - it->second.started).count()));
  pending_.erase(it);
}

void calibration::killed(dht::millis at, std::size_t short_records, repair_work work) {
  killed_at_ = at;
  short_records_ = short_records;
  at_kill_ = work;
  pending_.clear();  // writes still under way when the sites died never complete as measured
}

void calibration::sampled(dht::millis at, std::size_t short_records, repair_work work) {
  if (short_records > 0) return;
  if (!rest_) rest_ = at;
  if (!restoring()) return;
  restored_ = at;
  repair_ = {work.messages - at_kill_.messages, work.rounds - at_kill_.rounds};
}

bool calibration::write(const std::string& path, const std::vector<query_result>& queries) const {
  std::ofstream out(path);
  out << "measure,value\n";
  for (double ms : replicas_ms_) out << "replicas," << ms << '\n';
  auto kill_s = killed_at_ ? static_cast<double>(killed_at_->count()) / 1000 : 1e300;
  auto rest_s = rest_ ? static_cast<double>(rest_->count()) / 1000 : 1e300;
  for (const auto& q : queries)
    if (q.fanout == "all" && q.start_s >= rest_s && q.start_s < kill_s && !q.deadline_passed) out << "fanout," << q.latency_ms << '\n';
  if (restored_) {
    out << "restore," << (*restored_ - *killed_at_).count() << '\n';
    out << "repair_messages," << repair_.messages << '\n';
    out << "repair_rounds," << repair_.rounds << '\n';
  }
  if (killed_at_) out << "repair_records," << short_records_ << '\n';
  return static_cast<bool>(out);
}

}  // namespace dm2::sim
