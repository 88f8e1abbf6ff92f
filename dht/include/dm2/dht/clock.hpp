// The overlay logic's only source of time, so the node, the tests and dm2-sim drive the same code.
// Times are milliseconds since an arbitrary epoch (monotonic). Implementations say whether they
// are thread-safe.
#pragma once

#include <atomic>
#include <chrono>

namespace dm2::dht {

using millis = std::chrono::milliseconds;

class clock {
 public:
  virtual ~clock() = default;
  virtual millis now() const = 0;
};

// std::chrono::steady_clock. Thread-safe.
class steady_clock_source final : public clock {
 public:
  millis now() const override {
    return std::chrono::duration_cast<millis>(std::chrono::steady_clock::now().time_since_epoch());
  }
};

// Time that moves only when told (tests, simulator). Thread-safe.
class manual_clock final : public clock {
 public:
  millis now() const override { return millis(now_.load()); }
  void set(millis t) { now_ = t.count(); }
  void advance(millis d) { now_ += d.count(); }

 private:
  std::atomic<millis::rep> now_{0};
};

}  // namespace dm2::dht
