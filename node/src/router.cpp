#include "dm2/node/router.hpp"

#include "dm2/result.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace dm2::node {

http_response error_response(const error& e) {
  http_response r;
  r.status = http_status(e.code);
  nlohmann::json body = {{"error", {{"code", name_of(e.code)}, {"message", e.message}}}};
  r.body = body.dump();
  return r;
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

std::string last_segment(const std::string& target) {
  auto path = path_of(target);
  return path.substr(path.rfind('/') + 1);
}

std::map<std::string, std::string> query_of(const std::string& target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto pair = rest.substr(0, rest.find('&'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    out[std::string(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
  }
  return out;
}

void router::add(const std::string& method, const std::string& path, handler h) {
  routes_[path][method] = std::move(h);
}

void router::add_prefix(const std::string& method, const std::string& prefix, handler h, const std::string& suffix) {
  prefixes_[{prefix, suffix}][method] = std::move(h);
}

void router::add_tree(const std::string& method, const std::string& prefix, handler h) {
  trees_[prefix][method] = std::move(h);
}

const router::method_table* router::find(const std::string& path, std::string* label) const {
  if (auto exact = routes_.find(path); exact != routes_.end()) {
    *label = path;
    return &exact->second;
  }
  for (const auto& [pattern, methods] : prefixes_) {
    const auto& [prefix, suffix] = pattern;
    if (path.size() <= prefix.size() + suffix.size() || path.compare(0, prefix.size(), prefix) != 0 ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    auto name = std::string_view(path).substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    if (name.find('/') != std::string_view::npos) continue;
    *label = prefix + "{name}" + suffix;
    return &methods;
  }
  for (const auto& [prefix, methods] : trees_) {
    if (path.size() <= prefix.size() || path.compare(0, prefix.size(), prefix) != 0) continue;
    *label = prefix + "{path}";
    return &methods;
  }
  return nullptr;
}

std::string router::route_label(const http_request& request) const {
  std::string label;
  return find(path_of(request.target), &label) ? label : "other";
}

http_response router::handle(const http_request& request) const {
  const std::string path = path_of(request.target);
  if (path.empty() || path.front() != '/')
    return error_response(fail(errc::malformed_input, "request target must start with '/'"));
  std::string label;
  const auto* methods = find(path, &label);
  if (!methods) return error_response(fail(errc::not_found, "no such resource"));
  auto by_method = methods->find(request.method);
  if (by_method == methods->end()) {
    auto r = error_response(fail(errc::invalid_argument, "method not allowed"));
    r.status = 405;
    std::string allow;
    for (const auto& [method, h] : *methods) allow += (allow.empty() ? "" : ", ") + method;
    r.headers["Allow"] = allow;
    return r;
  }
  try {
    return by_method->second(request);
  } catch (const std::exception& e) {
    spdlog::error("event=handler_failed route={} what=\"{}\"", path, e.what());
    return error_response(fail(errc::internal, "the request could not be served"));
  }
}

}  // namespace dm2::node
