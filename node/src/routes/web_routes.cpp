// The clinician's desk: plain HTML, CSS and JavaScript files (node/web/ in the repository,
// installed under <prefix>/share/dm2/web) read once at start and served from memory. Public:
// the page holds no data; everything it shows comes from the API after sign-in. A strict
// Content-Security-Policy allows only the node's own scripts, styles and API.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "routes.hpp"

namespace dm2::node {
namespace {

namespace fs = std::filesystem;

constexpr const char* assets_path = "/desk/";
constexpr std::uintmax_t max_file_bytes = 1 << 20;

const std::map<std::string, std::string>& content_types() {
  static const std::map<std::string, std::string> types = {{".html", "text/html; charset=utf-8"},
                                                           {".js", "text/javascript; charset=utf-8"},
                                                           {".css", "text/css; charset=utf-8"},
                                                           {".svg", "image/svg+xml"}};
  return types;
}

struct asset {
  std::string content_type, body;
};

fs::path web_root(const node_config& config) {
  if (!config.web_root.empty()) return config.web_root;
  std::error_code ec;
  auto program = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : program.parent_path().parent_path() / "share" / "dm2" / "web";
}

bool plain_name(const std::string& name) {
  if (name.empty() || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
  });
}

// The files of `root` (not its subdirectories) with a plain name, a known type and at most 1 MiB.
std::map<std::string, asset> load_assets(const fs::path& root) {
  std::map<std::string, asset> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    auto name = entry.path().filename().string();
    auto type = content_types().find(entry.path().extension().string());
    if (!entry.is_regular_file(ec) || !plain_name(name) || type == content_types().end() ||
        entry.file_size(ec) > max_file_bytes)
      continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    out[name] = {type->second, text.str()};
  }
  return out;
}

http_response serve(const asset& a) {
  return http_response{200,
                       a.content_type,
                       {{"Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                         "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
                        {"Referrer-Policy", "no-referrer"},
                        {"X-Frame-Options", "DENY"},
                        {"Cross-Origin-Opener-Policy", "same-origin"}},
                       a.body};
}

}  // namespace

void add_web_routes(router& routes, const route_context& c) {
  auto root = web_root(*c.config);
  auto assets = std::make_shared<const std::map<std::string, asset>>(load_assets(root));
  auto index = assets->find("index.html");
  if (index == assets->end()) {
    spdlog::warn("event=web_assets_missing root=\"{}\"", root.string());
    return;
  }
  spdlog::info("event=web_assets_loaded root=\"{}\" files={}", root.string(), assets->size());
  routes.add("GET", "/", [page = index->second](const http_request&) { return serve(page); });
  routes.add_prefix("GET", assets_path, [assets](const http_request& r) {
    auto found = assets->find(last_segment(r.target));
    if (found == assets->end()) return error_response(fail(errc::not_found, "no such file"));
    return serve(found->second);
  });
}

}  // namespace dm2::node
