#include "dm2/node/metrics.hpp"

#include <cmath>
#include <sstream>

namespace dm2::node {

void metrics::increment(const std::string& name, const std::string& labels, double by) {
  std::lock_guard lock(mutex_);
  families_[name].samples[labels] += by;
}

void metrics::set_gauge(const std::string& name, double value, const std::string& labels) {
  std::lock_guard lock(mutex_);
  families_[name].samples[labels] = value;
}

void metrics::gauge_callback(const std::string& name, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  families_[name].callback = std::move(read);
}

void metrics::observe(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(mutex_);
  auto& h = families_[name].histograms[labels];
  if (h.counts.empty()) h.counts.resize(histogram_buckets.size() + 1);
  std::size_t i = 0;
  while (i < histogram_buckets.size() && value > histogram_buckets[i]) ++i;
  ++h.counts[i];
  h.sum += value;
  ++h.count;
}

void metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name].type = type;
  families_[name].help = help;
}

std::string metrics::render() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out.precision(15);
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out << "# HELP " << name << ' ' << f.help << '\n';
    out << "# TYPE " << name << ' ' << f.type << '\n';
    if (f.callback) out << name << ' ' << f.callback() << '\n';
    for (const auto& [labels, value] : f.samples) {
      out << name;
      if (!labels.empty()) out << '{' << labels << '}';
      out << ' ' << value << '\n';
    }
    for (const auto& [labels, h] : f.histograms) {
      std::string sep = labels.empty() ? "" : labels + ",";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        out << name << "_bucket{" << sep << "le=\"";
        if (i < histogram_buckets.size()) out << histogram_buckets[i];
        else out << "+Inf";
        out << "\"} " << cumulative << '\n';
      }
      std::string braces = labels.empty() ? "" : "{" + labels + "}";
      out << name << "_sum" << braces << ' ' << h.sum << '\n' << name << "_count" << braces << ' ' << h.count << '\n';
    }
  }
  return out.str();
}

}  // namespace dm2::node
