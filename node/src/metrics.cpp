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
  }
  return out.str();
}

}  // namespace dm2::node
