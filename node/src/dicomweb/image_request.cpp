#include "image_request.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "query_string.hpp"

namespace dm2::node::dicomweb {
namespace {

error bad(const std::string& what, const std::string& why) {
  return error{errc::invalid_argument, what + ": " + why};
}

std::vector<std::string_view> split(std::string_view s, char by) {
  std::vector<std::string_view> out;
  while (true) {
    auto at = s.find(by);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

template <typename T>
bool number(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// The media ranges of an Accept header, parameters dropped, lower-cased.
std::vector<std::string> media_ranges(std::string_view accept) {
  std::vector<std::string> out;
  for (auto range : split(accept, ',')) {
    auto type = trimmed(range.substr(0, range.find(';')));
    std::string lower(type);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!lower.empty()) out.push_back(std::move(lower));
  }
  return out;
}

}  // namespace

result<std::vector<unsigned>> parse_frame_list(std::string_view list) {
  std::vector<unsigned> out;
  std::set<unsigned> seen;
  for (auto item : split(list, ',')) {
    unsigned n = 0;
    if (!number(item, n) || n == 0)
      return bad("frame list", "comma-separated frame numbers from 1");
    if (!seen.insert(n).second) return bad("frame list", "frame " + std::to_string(n) + " twice");
    if (out.size() == image_limits::max_frames)
      return bad("frame list", "at most " + std::to_string(image_limits::max_frames) + " frames");
    out.push_back(n);
  }
  return out;
}

status frames_acceptable(std::string_view accept) {
  if (trimmed(accept).empty()) return {};
  for (auto range : split(accept, ',')) {
    auto media = media_ranges(range);
    if (media.empty()) continue;
    bool type_ok =
        media[0] == "*/*" || (media[0] == "multipart/related" &&
                              (range.find("type=") == std::string_view::npos ||
                               range.find("application/octet-stream") != std::string_view::npos));
    auto ts = range.find("transfer-syntax=");
    auto syntax = ts == std::string_view::npos ? std::string_view{} : range.substr(ts + 16);
    if (!syntax.empty() && syntax.front() == '"') syntax.remove_prefix(1);
    syntax = syntax.substr(0, syntax.find_first_of("\";, "));
    bool syntax_ok =
        ts == std::string_view::npos || syntax == "*" || syntax == "1.2.840.10008.1.2.1";
    if (type_ok && syntax_ok) return {};
  }
  return fail(errc::unsupported,
              "frames are answered as multipart/related; type=\"application/octet-stream\", "
              "uncompressed (transfer-syntax=1.2.840.10008.1.2.1 or *); docs/dicomweb.md");
}

result<rendered_request> parse_rendered(std::string_view target, std::string_view accept) {
  rendered_request r;
  auto ranges = media_ranges(accept);
  if (ranges.empty()) ranges.push_back("*/*");
  for (const auto& m : ranges)
    if (m == "image/jpeg" || m == "image/*" || m == "*/*") {
      r.media_type = "image/jpeg";
      break;
    } else if (m == "image/png") {
      r.media_type = "image/png";
      break;
    }
  if (r.media_type.empty())
    return fail(errc::unsupported, "rendered images are image/jpeg or image/png; docs/dicomweb.md");
  r.settings.format =
      r.media_type == "image/png" ? pacs::image_format::png : pacs::image_format::jpeg;

  auto parameters = query_parameters(target);
  if (!parameters) return std::move(parameters).err();
  std::set<std::string> seen;
  for (const auto& [name, value] : *parameters) {
    if (!seen.insert(name).second) return bad(name.substr(0, 64), "given twice");
    auto parts = split(value, ',');
    if (name == "window") {
      double center = 0, width = 0;
      if (parts.size() < 2 || parts.size() > 3 || !number(trimmed(parts[0]), center) ||
          !number(trimmed(parts[1]), width) || !std::isfinite(center) || !std::isfinite(width) ||
          width < 1)
        return bad("window", "<center>,<width>[,linear] with a width of at least 1");
      if (parts.size() == 3 && trimmed(parts[2]) != "linear" && trimmed(parts[2]) != "LINEAR")
        return bad("window", "only the linear function is supported");
      r.settings.window_center = center;
      r.settings.window_width = width;
    } else if (name == "quality") {
      unsigned q = 0;
      if (!number(value, q) || q < 1 || q > 100) return bad("quality", "1 to 100");
      r.settings.jpeg_quality = q;
    } else if (name == "viewport") {
      unsigned cols = 0, rows = 0;
      if (parts.size() != 2 || !number(trimmed(parts[0]), cols) ||
          !number(trimmed(parts[1]), rows) || cols < 1 || rows < 1 ||
          cols > image_limits::max_viewport || rows > image_limits::max_viewport)
        return bad("viewport",
                   "<columns>,<rows>, each 1 to " + std::to_string(image_limits::max_viewport));
      r.settings.max_columns = cols;
      r.settings.max_rows = rows;
    } else {
      return bad(name.substr(0, 64), "unknown query parameter (window, quality, viewport)");
    }
  }
  return r;
}

}  // namespace dm2::node::dicomweb
