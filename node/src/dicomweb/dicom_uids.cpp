#include "dicom_uids.hpp"

#include <algorithm>

namespace dm2::node::dicomweb {
namespace {

// 128-bit arithmetic for the LFN's decimal form (GCC and clang; __extension__ keeps -pedantic
// quiet).
__extension__ typedef unsigned __int128 u128;

constexpr std::string_view uuid_arc = "2.25.";
constexpr std::string_view series_suffix = ".1";

std::optional<u128> from_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  u128 v = 0;
  for (char c : hex) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<u128>(d);
  }
  return v;
}

std::string decimal(u128 v) {
  std::string out;
  do {
    out.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  std::reverse(out.begin(), out.end());
  return out;
}

// The LFN of "2.25.<decimal>": the decimal must be canonical (no leading zero) and fit 128 bits.
std::optional<std::string> lfn_of_root(std::string_view uid) {
  if (uid.substr(0, uuid_arc.size()) != uuid_arc) return std::nullopt;
  auto digits = uid.substr(uuid_arc.size());
  if (digits.empty() || digits.size() > 39 || (digits.size() > 1 && digits.front() == '0'))
    return std::nullopt;
  u128 v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    auto next = v * 10 + static_cast<u128>(c - '0');
    if (next / 10 != v) return std::nullopt;  // over 128 bits
    v = next;
  }
  std::string hex(32, '0');
  for (int i = 31; i >= 0; --i, v >>= 4)
    hex[static_cast<std::size_t>(i)] = "0123456789abcdef"[static_cast<int>(v & 15)];
  return hex;
}

}  // namespace

std::string study_uid_of(std::string_view lfn_hex) {
  auto v = from_hex(lfn_hex);
  return v ? std::string(uuid_arc) + decimal(*v) : std::string{};
}

std::string series_uid_of(std::string_view lfn_hex) {
  auto study = study_uid_of(lfn_hex);
  return study.empty() ? study : study + std::string(series_suffix);
}

std::optional<std::string> lfn_of_study(std::string_view uid) { return lfn_of_root(uid); }

std::optional<std::string> lfn_of_series(std::string_view uid) {
  if (uid.size() <= series_suffix.size() ||
      uid.substr(uid.size() - series_suffix.size()) != series_suffix)
    return std::nullopt;
  return lfn_of_root(uid.substr(0, uid.size() - series_suffix.size()));
}

bool valid_uid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    auto end = uid.find('.', start);
    auto part =
        uid.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part.empty() || (part.size() > 1 && part.front() == '0') ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

}  // namespace dm2::node::dicomweb
