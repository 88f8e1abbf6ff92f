#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace dm2::sim {

progress_bar::progress_bar(double total)
    : total_(total > 0 ? total : 1),
      enabled_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void progress_bar::update(double done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  double f = done / total_;
  if (f > 1) f = 1;
  double wall = std::chrono::duration<double>(now - start_).count();
  double eta = f > 0 ? wall * (1 - f) / f : 0;
  constexpr int width = 40;
  int filled = static_cast<int>(f * width);
  char bar[width + 1];
  for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  std::fprintf(stderr, "\r[%s] %5.1f%%  %.0f/%.0f simulated s  wall %.0f s  eta %.0f s ", bar,
               100 * f, done, total_, wall, eta);
  std::fflush(stderr);
}

void progress_bar::finish() {
  if (!enabled_) return;
  std::fprintf(stderr, "\r%*s\r", 100, "");
  std::fflush(stderr);
}

}  // namespace dm2::sim
