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

// Upper bounds of histogram buckets (seconds), +Inf implied.
inline const std::vector<double> histogram_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

class metrics {
 public:
  // Adds `by` to a counter; `labels` is already rendered, e.g. `route="/health",code="200"`.
  void increment(const std::string& name, const std::string& labels = {}, double by = 1);
  void set_gauge(const std::string& name, double value, const std::string& labels = {});
  // A gauge computed when scraped (routing table size, uptime).
  void gauge_callback(const std::string& name, std::function<double()> read);
  // Adds one observation to a histogram (TYPE histogram; buckets histogram_buckets, in seconds).
  void observe(const std::string& name, const std::string& labels, double value);
  // Declares HELP text and TYPE ("counter", "gauge" or "histogram") for a family.
  void describe(const std::string& name, const std::string& type, const std::string& help);

  std::string render() const;

 private:
  struct histogram {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct family {
    std::string type = "untyped";
    std::string help;
    std::map<std::string, double> samples;  // labels -> value
    std::function<double()> callback;
    std::map<std::string, histogram> histograms;  // labels -> observations
  };
  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
};

}  // namespace dm2::node
