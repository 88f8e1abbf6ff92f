// GET /v1/queries/{id}/events: the state GET /v1/queries/{id} answers, pushed as Server-Sent
// Events each time it changes (a site answers, stage 2 moves), ending with the final ranking.
// Each stream holds a request worker while it waits (in slices of half a second, so other
// requests queued behind it still run), so at most half the workers stream at once; beyond, 503
// and the client polls.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "query_view_json.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* prefix = "/v1/queries/";
constexpr const char* suffix = "/events";
constexpr auto wait_slice = 500ms;         // one worker call at most
constexpr auto keep_alive_every = 15s;     // a comment line, so proxies keep the connection
constexpr auto grace_after_deadline = 3s;  // for the fan-out's last tick to close the query

std::string sse_event(const char* name, std::uint64_t revision, const json& data) {
  return std::string("event: ") + name + "\nid: " + std::to_string(revision) + "\ndata: " +
         data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

class query_event_source : public body_source {
 public:
  query_event_source(route_context c, access::principal who, std::string id,
                     std::shared_ptr<std::atomic<std::size_t>> open)
      : c_(std::move(c)), who_(std::move(who)), id_(std::move(id)), open_(std::move(open)) {}
  ~query_event_source() override { open_->fetch_sub(1); }

  std::optional<std::uint64_t> size() const override { return std::nullopt; }

  result<bool> next(std::string& piece) override {
    piece.clear();
    if (ended_) return false;
    auto view = first_ ? c_.queries->view(id_) : c_.queries->wait_for_change(id_, seen_, wait_slice);
    const auto now = std::chrono::steady_clock::now();
    if (!view) {
      ended_ = true;
      piece = sse_event("gone", seen_, json{{"error", {{"code", "not_found"}, {"message", "the query was forgotten"}}}});
      return true;
    }
    if (view->deadline_reached && !deadline_seen_) deadline_seen_ = now;
    const bool final = view->progress.done || (deadline_seen_ && now - *deadline_seen_ >= grace_after_deadline);
    if (first_ || view->revision > seen_ || final) {
      first_ = false;
      seen_ = view->revision;
      last_sent_ = now;
      auto shown = show_query(c_, who_, id_, *view);
      if (!shown) return shown.err();
      if (auto s = audit_query_read(c_, who_, id_, *shown, "events"); !s) return s.err();
      ended_ = final;
      piece = sse_event(final ? "done" : "progress", seen_, shown->body);
    } else if (now - last_sent_ >= keep_alive_every) {
      last_sent_ = now;
      piece = ": keep-alive\n\n";
    }
    return true;
  }

 private:
  route_context c_;
  access::principal who_;
  std::string id_;
  std::shared_ptr<std::atomic<std::size_t>> open_;
  bool first_ = true, ended_ = false;
  std::uint64_t seen_ = 0;
  std::chrono::steady_clock::time_point last_sent_{};
  std::optional<std::chrono::steady_clock::time_point> deadline_seen_;
};

// Same authentication and policy as the poll: the stream shows each hit only if the caller may
// read its index attributes, and every event sent is audited as a read.
http_response events(const route_context& c, const std::shared_ptr<std::atomic<std::size_t>>& open,
                     const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto path = path_of(request.target);
  auto id = path.substr(std::string_view(prefix).size(),
                        path.size() - std::string_view(prefix).size() - std::string_view(suffix).size());
  if (!c.queries->view(id)) return error_response(fail(errc::not_found, "no such query (unknown, or finished and forgotten)"));
  const std::size_t limit = std::max(1u, c.config->worker_threads / 2);
  if (open->fetch_add(1) >= limit) {
    open->fetch_sub(1);
    auto busy = error_response(fail(errc::unavailable, "too many event streams open; poll GET /v1/queries/{id}"));
    busy.headers.emplace("Retry-After", "1");
    return busy;
  }
  http_response r{200, "text/event-stream; charset=utf-8", {{"X-Accel-Buffering", "no"}}, {}};
  r.streamed = std::make_shared<query_event_source>(c, *who, id, open);
  return r;
}

}  // namespace

void add_query_event_routes(router& routes, const route_context& c) {
  auto open = std::make_shared<std::atomic<std::size_t>>(0);
  routes.add_prefix("GET", prefix, [c, open](const http_request& r) { return events(c, open, r); }, suffix);
}

}  // namespace dm2::node
