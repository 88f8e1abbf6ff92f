// A one-line progress bar on stderr for long dm2-sim runs, drawn only when stderr is a terminal
// (CSV output and logs stay clean in scripts and CI). Not thread-safe.
#pragma once

#include <chrono>

namespace dm2::sim {

class progress_bar {
 public:
  explicit progress_bar(double total);  // total simulated seconds
  void update(double done);             // redraws at most 5 times a second
  void finish();

 private:
  double total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace dm2::sim
