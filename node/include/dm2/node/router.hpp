// Maps (method, path) to a handler. Pure: no sockets, no threads; answers 404 and 405 itself
// with the JSON error body. Thread-safe for concurrent handle() once routes are added.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "dm2/node/http_types.hpp"

namespace dm2::node {

class router {
 public:
  using handler = std::function<http_response(const http_request&)>;

  // Adds a route for an exact path ("/health"). Not thread-safe: add all routes before serving.
  void add(const std::string& method, const std::string& path, handler h);

  // Adds a route for every path "<prefix><name><suffix>" where <name> is one non-empty path
  // segment ("/v1/queries/" serves "/v1/queries/abc"; with suffix "/sealed", "/v1/series/"
  // serves "/v1/series/abc/sealed"); handlers read the name with last_segment when there is no
  // suffix. Exact routes win over prefix routes. Not thread-safe: add all routes before serving.
  void add_prefix(const std::string& method, const std::string& prefix, handler h, const std::string& suffix = "");

  // Adds a route for every path under `prefix` ("/dicom-web/studies/" serves
  // "/dicom-web/studies/1.2/series/3.4/metadata"), for resources whose paths nest names; the
  // handler splits the rest. Exact and prefix routes win. Not thread-safe: add all routes before serving.
  void add_tree(const std::string& method, const std::string& prefix, handler h);

  // The handler's response; 400 for a malformed target, 404 for an unknown path, 405 (with an
  // Allow header) for a known path and another method. A handler that throws gives a 500 whose
  // body says nothing of the exception (it is logged).
  http_response handle(const http_request& request) const;

  // The route label used in metrics: the path if routed ("<prefix>{name}<suffix>" for a prefix route),
  // else "other" (unbounded paths must not
  // become unbounded label values).
  std::string route_label(const http_request& request) const;

 private:
  using method_table = std::map<std::string, handler>;
  const method_table* find(const std::string& path, std::string* label) const;
  std::map<std::string, method_table> routes_;    // path -> method -> handler
  std::map<std::pair<std::string, std::string>, method_table> prefixes_;  // (prefix, suffix) -> method -> handler
  std::map<std::string, method_table> trees_;  // prefix -> method -> handler
};

// The path of a request target without its query string.
std::string path_of(const std::string& target);
// The last segment of a target's path ("/v1/queries/abc?x" -> "abc").
std::string last_segment(const std::string& target);

// The query string's parameters ("a=1&b=2"); a repeated name keeps its last value. Values are
// not percent-decoded: every parameter of this API is digits or hex.
std::map<std::string, std::string> query_of(const std::string& target);

}  // namespace dm2::node
