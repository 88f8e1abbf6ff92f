// Prometheus metrics of one node: counters and gauges with fixed label sets, rendered in the
// text exposition format (version 0.0.4) for GET /metrics. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dm2::node {

class metrics {
 public:
  // Adds `by` to a counter; `labels` is already rendered, e.g. `route="/health",code="200"`.
  void increment(const std::string& name, const std::string& labels = {}, double by = 1);
  void set_gauge(const std::string& name, double value, const std::string& labels = {});
  // A gauge computed when scraped (routing table size, uptime).
  void gauge_callback(const std::string& name, std::function<double()> read);
  // Declares HELP text and TYPE ("counter" or "gauge") for a family.
  void describe(const std::string& name, const std::string& type, const std::string& help);

  std::string render() const;

 private:
  struct family {
    std::string type = "untyped";
    std::string help;
    std::map<std::string, double> samples;  // labels -> value
    std::function<double()> callback;
  };
  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
};

}  // namespace dm2::node
