// How long a child takes to send its first answer, smoothed as TCP smooths round trips
// (RFC 6298: srtt and rttvar, gains 1/8 and 1/4). The tree fan-out waits srtt + 4 rttvar for a
// child before asking another member of its bucket: a fixed wait shorter than what loaded sites
// take re-sent buckets that were on their way and sent healthy queries to a second pass.
#pragma once

#include <algorithm>
#include <cmath>

#include "dm2/dht/clock.hpp"

namespace dm2::dht {

class answer_time {
 public:
  void sample(millis took) {
    auto s = static_cast<double>(std::max<std::int64_t>(took.count(), 0));
    if (samples_++ == 0) {
      srtt_ = s;
      rttvar_ = s / 2;
      return;
    }
    rttvar_ = 0.75 * rttvar_ + 0.25 * std::abs(srtt_ - s);
    srtt_ = 0.875 * srtt_ + 0.125 * s;
  }
  // The wait before a child counts as late: `floor` until measured, never below it nor above `cap`.
  millis wait(millis floor, millis cap) const {
    if (samples_ == 0) return floor;
    auto w = millis(static_cast<std::int64_t>(std::ceil(srtt_ + 4 * rttvar_)));
    return std::clamp(w, floor, std::max(floor, cap));
  }

 private:
  double srtt_ = 0;
  double rttvar_ = 0;
  std::uint64_t samples_ = 0;
};

}  // namespace dm2::dht
