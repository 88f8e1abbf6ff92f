#include "latency_model.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

namespace dm2::sim {
namespace {

// Drops a trailing CR; false for blank lines and '#' comments.
bool data_line(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto first = line.find_first_not_of(" \t");
  return first != std::string::npos && line[first] != '#';
}

}  // namespace

std::string read_rtt_matrix(const std::string& file, std::size_t n, std::vector<double>& rtt_ms) {
  std::ifstream in(file);
  if (!in) return file + ": cannot read the latency matrix";
  rtt_ms.clear();
  std::string line;
  std::size_t row = 0, line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!data_line(line)) continue;
    auto where = [&](std::size_t col) {
      return file + ": line " + std::to_string(line_no) + ", column " + std::to_string(col);
    };
    if (++row > n) return file + ": more than " + std::to_string(n) + " rows (expected " + std::to_string(n) + " x " + std::to_string(n) + ")";
    std::size_t col = 0, pos = 0;
    for (;;) {
      auto comma = line.find(',', pos);
      auto cell = line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      ++col;
      auto first = cell.find_first_not_of(" \t");
      auto last = cell.find_last_not_of(" \t");
      cell = first == std::string::npos ? "" : cell.substr(first, last - first + 1);
      errno = 0;
      char* end = nullptr;
      double v = std::strtod(cell.c_str(), &end);
      if (cell.empty() || end != cell.c_str() + cell.size() || errno == ERANGE || !std::isfinite(v))
        return where(col) + ": '" + cell.substr(0, 32) + "' is not a number";
      if (v < 0) return where(col) + ": negative round-trip time " + cell;
      rtt_ms.push_back(v);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (col != n)
      return file + ": line " + std::to_string(line_no) + " has " + std::to_string(col) + " values, expected " + std::to_string(n);
  }
  if (row != n) return file + ": " + std::to_string(row) + " rows, expected " + std::to_string(n);
  return {};
}

std::string latency_model::load(const latency_settings& s) {
  regions_ = std::max(s.regions, 1);
  constant_ms_ = s.latency_ms;
  if (!s.matrix_file.empty()) {
    // Sites x sites when the file has that many rows, else regions x regions.
    std::ifstream in(s.matrix_file);
    std::size_t rows = 0;
    std::string line;
    while (std::getline(in, line)) rows += data_line(line);
    by_region_ = rows != static_cast<std::size_t>(s.sites);
    width_ = by_region_ ? static_cast<std::size_t>(regions_) : static_cast<std::size_t>(s.sites);
    auto err = read_rtt_matrix(s.matrix_file, width_, rtt_ms_);
    if (!err.empty() && by_region_ && rows != width_)
      err += " (a matrix is " + std::to_string(s.sites) + " sites or " + std::to_string(regions_) + " regions square)";
    return err;
  }
  if (s.intra_region_rtt_ms > 0 || s.inter_region_rtt_ms > 0) {
    by_region_ = true;
    width_ = static_cast<std::size_t>(regions_);
    rtt_ms_.assign(width_ * width_, s.intra_region_rtt_ms);
    std::mt19937_64 rng(s.seed ^ 0x5bd1e995ull);
    std::uniform_real_distribution<double> factor(1 - s.rtt_spread, 1 + s.rtt_spread);
    for (std::size_t a = 0; a < width_; ++a)
      for (std::size_t b = a + 1; b < width_; ++b)
        rtt_ms_[a * width_ + b] = rtt_ms_[b * width_ + a] = s.inter_region_rtt_ms * factor(rng);
  }
  return {};
}

dm2::dht::millis latency_model::one_way(int from, int to) const {
  if (width_ == 0) return dm2::dht::millis(static_cast<long>(constant_ms_));
  auto a = static_cast<std::size_t>(by_region_ ? region_of(from) : from);
  auto b = static_cast<std::size_t>(by_region_ ? region_of(to) : to);
  return dm2::dht::millis(std::lround(rtt_ms_[a * width_ + b] / 2));
}

}  // namespace dm2::sim
