#include "dm2/node/node.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <algorithm>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <thread>

#include "dm2/dht/overlay.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/node/metrics.hpp"
#include "dm2/node/router.hpp"
#include "dm2/node/tls.hpp"
#include "dm2/node/version.hpp"
#include "dm2/storage/database.hpp"
#include "consortium.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/dht/message_codec.hpp"
#include "overlay_service.hpp"
#include "records.hpp"
#include "roster_service.hpp"
#include "https_server.hpp"
#include "query_routes.hpp"

namespace dm2::node {
namespace asio = boost::asio;
namespace fs = std::filesystem;

struct node::impl {
  node_config config;
  asio::io_context io;
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::shared_ptr<https_server> server;
  std::unique_ptr<storage::database> db;
  std::unique_ptr<dht::overlay> overlay;
  site_identity identity;
  std::unique_ptr<consortium> members;
  std::unique_ptr<overlay_service> replication;
  std::unique_ptr<roster_service> roster;
  query_book queries;
  metrics stats;
  router routes;
  std::vector<std::thread> threads;
  std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();

  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stopped = false;

  void add_routes();
  // Appends an audit entry for each query this site answers (who asked, which query, how many hits).
  void audit_query_answer(const std::string& querier, const std::string& query_id, std::size_t hits);
  http_response serve(const http_request& request);
  // Allows a request from this site's own certificate (the local operator's CLI) or from a
  // current roster member; otherwise the 403 to answer.
  std::optional<http_response> refuse_unless_site(const http_request& request) const;
  // Who made the request, for the audit log: "site:<id>" for a roster member, else
  // "cert:<fingerprint>" (this node's own certificate before it is on a roster).
  std::string audit_actor(const http_request& request) const;
  // Appends one audit entry (synced). Errors: those of database::commit.
  status audit(const http_request& request, std::string action, std::string object, std::string decision);
};

status check_data_dir_usable(const fs::path& dir) {
  std::error_code ec;
  fs::path probe = fs::absolute(dir, ec);
  if (ec) return fail(errc::io_error, "data dir " + dir.string() + ": " + ec.message());
  while (!fs::exists(probe, ec)) {
    if (!probe.has_parent_path() || probe.parent_path() == probe)
      return fail(errc::io_error, "data dir " + dir.string() + " has no existing parent");
    probe = probe.parent_path();
  }
  if (!fs::is_directory(probe, ec))
    return fail(errc::io_error, "data dir " + dir.string() + ": " + probe.string() + " is not a directory");
  if (::access(probe.c_str(), W_OK | X_OK) != 0)
    return fail(errc::permission_denied,
                "data dir " + dir.string() + ": " + probe.string() + " is not writable (" +
                    std::strerror(errno) + ")");
  return {};
}

namespace {

// Binds (and releases) the DHT's UDP port, so that a taken port is found before anything is
// written. libtorrent binds it for real once the identity is loaded.
status probe_udp_port(const endpoint& at) {
  if (at.port == 0) return {};
  asio::io_context io;
  boost::system::error_code ec;
  asio::ip::udp::socket socket(io);
  auto address = asio::ip::make_address(at.address, ec);
  if (!ec) socket.open(address.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
  if (!ec) socket.bind({address, at.port}, ec);
  if (ec) return fail(errc::unavailable, "cannot listen on " + at.to_string() + "/udp for the DHT: " + ec.message());
  return {};
}

}  // namespace

std::optional<http_response> node::impl::refuse_unless_site(const http_request& request) const {
  if (!request.peer_certificate_fingerprint.empty() &&
      request.peer_certificate_fingerprint == identity.certificate_fingerprint)
    return std::nullopt;
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (member) return std::nullopt;
  spdlog::warn("event=peer_refused remote={} fingerprint={} reason=\"{}\"", request.remote_address,
               request.peer_certificate_fingerprint.empty() ? "none" : request.peer_certificate_fingerprint,
               member.err().message);
  return error_response(fail(errc::permission_denied, "this resource is for consortium sites"));
}

void node::impl::add_routes() {
  routes.add("GET", "/health", [this](const http_request&) {
    nlohmann::json body = {{"status", "ok"}, {"site", config.site_name}, {"version", version}};
    return http_response{200, "application/json", {}, body.dump()};
  });
  routes.add("GET", "/metrics", [this](const http_request&) {
    return http_response{200, "text/plain; version=0.0.4", {}, stats.render()};
  });
  routes.add("GET", "/v1/roster", [this](const http_request& request) {
    if (auto refused = refuse_unless_site(request)) return *refused;
    if (!members->enabled()) return error_response(fail(errc::not_found, "this node has no roster"));
    return http_response{200, "application/json", {}, members->document()};
  });
  // Anyone may offer a roster: it is adopted only if the consortium signed it and it is newer,
  // and its announcement is relayed only if the consortium signed that too (roster_service).
  routes.add("POST", "/v1/roster", [this](const http_request& request) {
    auto offered = roster->offer(request.body);
    if (!offered) return error_response(offered.err());
    nlohmann::json body = {{"adopted", offered->adopted},
                           {"version", offered->version},
                           {"announcement", offered->announcement_queued ? "queued" : "none"}};
    return http_response{200, "application/json", {}, body.dump()};
  });
  routes.add("GET", "/v1/overlay", [this](const http_request& request) {
    if (auto refused = refuse_unless_site(request)) return *refused;
    auto report = replication->report();
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& site : members->peers()) {
      bool live = std::find(report.live_sites.begin(), report.live_sites.end(), site.site_id) != report.live_sites.end();
      peers.push_back({{"site_id", site.site_id}, {"https", site.https_endpoint}, {"dht", site.dht_endpoint}, {"live", live}});
    }
    auto self = members->self();
    nlohmann::json body = {{"site_id", self ? self->site_id : ""},
                           {"dht_running", report.dht_running},
                           {"node_id", report.node_id},
                           {"dht_port", report.dht_port},
                           {"routing_table_size", report.routing_table_size},
                           {"roster_version", report.roster_version},
                           {"roster_peers", report.roster_peers},
                           {"live_peers", report.live_peers},
                           {"peers", peers},
                           {"stored_items", report.stored_items},
                           {"refused_queries", report.refused_queries},
                           {"refused_items", report.refused_items},
                           {"records_held", report.records_held},
                           {"replicas_owed", report.replicas_owed},
                           {"repair_rounds", report.repair_rounds},
                           {"repair_messages", report.repair_messages},
                           {"replicas", report.replicas},
                           {"survivable_failures", report.survivable_failures},
                           {"liveness_ms", report.liveness_ms}};
    return http_response{200, "application/json", {}, body.dump()};
  });
  // What this site holds, a page at a time: ?after=<lfn>&limit=<1..1000> (operators, repair tests).
  routes.add("GET", "/v1/overlay/records", [this](const http_request& request) {
    if (auto refused = refuse_unless_site(request)) return *refused;
    auto params = query_of(request.target);
    std::size_t limit = 1000;
    if (params.count("limit")) {
      auto text = params["limit"];
      if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(text) < 1 || std::stoul(text) > 1000)
        return error_response(fail(errc::invalid_argument, "limit must be 1..1000"));
      limit = std::stoul(text);
    }
    auto page = replication->held_records(params["after"], limit);
    nlohmann::json records = nlohmann::json::array();
    for (const auto& r : page) records.push_back({{"lfn", r.lfn}, {"version", r.version}, {"owner", r.owner}});
    nlohmann::json body = {{"records", records}};
    body["next"] = page.size() == limit ? nlohmann::json(page.back().lfn) : nlohmann::json(nullptr);
    return http_response{200, "application/json", {}, body.dump()};
  });
  // Replication traffic between sites: only roster members, identified by their certificate.
  routes.add("POST", "/v1/overlay/message", [this](const http_request& request) {
    auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
    if (!member) {
      spdlog::warn("event=peer_refused remote={} route=/v1/overlay/message", request.remote_address);
      return error_response(fail(errc::permission_denied, "this resource is for consortium sites"));
    }
    auto message = dht::decode_message(request.body);
    if (!message) {
      spdlog::warn("event=peer_message_refused site={} reason=\"{}\"", member->site_id, message.err().message);
      return error_response(message.err());
    }
    replication->deliver(member->site_id, std::move(*message));
    return http_response{202, "application/json", {}, "{}"};
  });
  // The owner's write of an index record (the node sets owner and version, signs, stores and
  // replicates it), and the local copy of one. Site certificates only: this is the ingest path,
  // not a user API. Both are audited (actor, action, LFN; nothing nominative).
  routes.add("POST", "/v1/records", [this](const http_request& request) {
    if (auto refused = refuse_unless_site(request)) return *refused;
    auto record = parse_ingest(request.body);
    if (!record) {
      spdlog::info("event=record_refused reason=\"{}\"", record.err().message);
      return error_response(record.err());
    }
    auto lfn = crypto::to_hex(record->lfn);
    auto published = replication->publish(std::move(*record), {0, audit_actor(request), "record_put", lfn, "allowed", ""});
    if (!published) return error_response(published.err());
    nlohmann::json body = {{"lfn", lfn}, {"version", published->version}};
    return http_response{201, "application/json", {}, body.dump()};
  });
  routes.add("GET", "/v1/records", [this](const http_request& request) {
    if (auto refused = refuse_unless_site(request)) return *refused;
    auto lfn = crypto::from_hex(query_of(request.target)["lfn"]);
    if (!lfn || lfn->size() != storage::lfn_size)
      return error_response(fail(errc::invalid_argument, "give ?lfn=<32 hex digits>"));
    auto hex = crypto::to_hex(*lfn);
    std::optional<storage::index_record> record;
    if (auto copy = replication->find(hex))
      if (auto decoded = dht::decode_replica(*copy)) record = std::move(*decoded);
    // A read that cannot be audited is not served.
    if (auto s = audit(request, "record_get", hex, record ? "allowed" : "not_found"); !s) return error_response(s.err());
    if (!record) return error_response(fail(errc::not_found, "no local copy of that record"));
    return http_response{200, "application/json", {}, record_json(*record).dump()};
  });
  add_query_routes(routes, {[this](const http_request& r) { return refuse_unless_site(r); }, replication.get(), &queries});
}

void node::impl::audit_query_answer(const std::string& querier, const std::string& query_id, std::size_t hits) {
  storage::transaction t;
  t.append_audit({0, "site:" + querier, "query_answer", query_id, "answered", "hits=" + std::to_string(hits)});
  if (auto s = db->commit(std::move(t)); !s)
    spdlog::error("event=audit_failed action=query_answer query={} reason=\"{}\"", query_id, s.err().message);
}

std::string node::impl::audit_actor(const http_request& request) const {
  auto member = members->member_by_fingerprint(request.peer_certificate_fingerprint);
  if (member) return "site:" + member->site_id;
  return "cert:" + request.peer_certificate_fingerprint;
}

status node::impl::audit(const http_request& request, std::string action, std::string object,
                         std::string decision) {
  storage::transaction t;
  t.append_audit({0, audit_actor(request), std::move(action), std::move(object), std::move(decision), ""});
  auto s = db->commit(std::move(t));
  if (!s) spdlog::error("event=audit_failed reason=\"{}\"", s.err().message);
  return s;
}

http_response node::impl::serve(const http_request& request) {
  auto response = routes.handle(request);
  stats.increment("dm2_http_requests_total",
                  "route=\"" + routes.route_label(request) + "\",code=\"" +
                      std::to_string(response.status) + "\"");
  return response;
}

result<std::unique_ptr<node>> node::start(const node_config& config) {
  if (auto s = validate(config); !s) return std::move(s).err();
  if (auto s = check_data_dir_usable(config.data_dir); !s) return std::move(s).err();

  auto p = std::make_unique<impl>();
  p->config = config;
  auto server = https_server::listen(p->io, config.https);
  if (!server) return std::move(server).err();
  p->server = std::move(*server);
  if (auto s = probe_udp_port(config.dht); !s) return std::move(s).err();

  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) return fail(errc::io_error, "cannot create data dir " + config.data_dir.string() + ": " + ec.message());
  ::chmod(config.data_dir.c_str(), 0700);

  auto identity = load_or_create_identity(config);
  if (!identity) return std::move(identity).err();
  p->identity = std::move(*identity);

  // RocksDB's LOCK keeps a second dm2d off this data directory from here on.
  auto signer = storage::ed25519_audit_signer(p->identity.dht_key_pem);
  if (!signer) return std::move(signer).err();
  auto db = storage::database::open(config.data_dir / "db", p->identity.storage_key, {}, std::move(*signer));
  if (!db) return std::move(db).err();
  p->db = std::move(*db);

  auto members = consortium::load(config, p->identity);
  if (!members) return std::move(members).err();
  p->members = std::move(*members);

  dht::overlay_settings dht_settings;
  dht_settings.listen_address = config.dht.address;
  dht_settings.listen_port = config.dht.port;
  dht_settings.state_file = config.data_dir / "dht-state";
  dht_settings.probe_rate = config.probe_rate;
  auto overlay = dht::overlay::start(dht_settings, p->identity.dht_public_key, p->db.get());
  if (!overlay) return std::move(overlay).err();
  p->overlay = std::move(*overlay);
  dht::replication_settings replication_settings;
  replication_settings.k = config.replicas;
  replication_settings.repair_period = config.repair_period;
  auto replication = overlay_service::create(*p->overlay, *p->members, p->identity, *p->db, replication_settings,
                                             config.liveness_timeout);
  if (!replication) return std::move(replication).err();
  p->replication = std::move(*replication);
  p->roster = std::make_unique<roster_service>(*p->members, *p->overlay, *p->replication, p->identity,
                                               config.consortium_public_key, config.roster_refresh, p->stats);

  auto tls = make_server_tls({p->identity.ca_certificate_pem, p->identity.certificate_pem,
                              p->identity.private_key_pem});
  if (!tls) return std::move(tls).err();

  p->stats.describe("dm2_build_info", "gauge", "Version of this dm2 node.");
  p->stats.set_gauge("dm2_build_info", 1, "version=\"" + std::string(version) + "\"");
  p->stats.describe("dm2_http_requests_total", "counter", "HTTP requests by route and status.");
  p->stats.describe("dm2_uptime_seconds", "gauge", "Seconds since the node started.");
  p->stats.gauge_callback("dm2_uptime_seconds", [raw = p.get()] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - raw->started_at).count();
  });
  p->stats.describe("dm2_dht_routing_table_nodes", "gauge", "Nodes in the DHT routing table.");
  p->stats.gauge_callback("dm2_dht_routing_table_nodes",
                          [raw = p.get()] { return static_cast<double>(raw->overlay->routing_table_size()); });
  p->stats.describe("dm2_roster_version", "gauge", "Version of the roster this node holds (0: none).");
  p->stats.gauge_callback("dm2_roster_version", [raw = p.get()] { return static_cast<double>(raw->members->version()); });
  p->stats.describe("dm2_dht_refused_queries", "gauge", "DHT queries refused: source not on the roster.");
  p->stats.gauge_callback("dm2_dht_refused_queries",
                          [raw = p.get()] { return static_cast<double>(raw->overlay->refused_queries()); });
  p->stats.describe("dm2_dht_refused_items", "gauge", "DHT items refused by the storage.");
  p->stats.gauge_callback("dm2_dht_refused_items",
                          [raw = p.get()] { return static_cast<double>(raw->overlay->refused_items()); });
  p->stats.describe("dm2_dht_stored_items", "gauge", "DHT items held by this node.");
  p->stats.gauge_callback("dm2_dht_stored_items",
                          [raw = p.get()] { return static_cast<double>(raw->overlay->stored_items()); });
  p->add_routes();

  https_server_options options{config.body_limit, config.request_timeout};
  p->server->start(std::move(*tls), [raw = p.get()](const http_request& r) { return raw->serve(r); },
                   options);
  p->signals.async_wait([raw = p.get()](boost::system::error_code wait_ec, int signal) {
    if (wait_ec) return;
    spdlog::info("event=signal signal={}", signal);
    std::lock_guard lock(raw->mutex);
    raw->stopped = true;
    raw->stopped_cv.notify_all();
  });
  for (unsigned i = 0; i < config.io_threads; ++i) p->threads.emplace_back([raw = p.get()] { raw->io.run(); });
  p->roster->start();
  p->replication->set_answer_observer([raw = p.get()](const std::string& querier, const std::string& id,
                                                     std::size_t hits) { raw->audit_query_answer(querier, id, hits); });
  p->replication->start();

  spdlog::info("event=ready site={} https={}:{} dht={}:{} node_id={} fingerprint={}", config.site_name,
               config.https.address, p->server->port(), config.dht.address, p->overlay->listen_port(),
               p->overlay->node_id_hex(), p->identity.certificate_fingerprint);
  return std::unique_ptr<node>(new node(std::move(p)));
}

node::node(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

node::~node() { stop(); }

void node::run_until_stopped() {
  std::unique_lock lock(impl_->mutex);
  impl_->stopped_cv.wait(lock, [this] { return impl_->stopped; });
  lock.unlock();
  stop();
}

void node::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopped = true;
    impl_->stopped_cv.notify_all();
  }
  if (impl_->threads.empty()) return;
  spdlog::info("event=stopping");
  impl_->server->stop();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->overlay->interrupt();  // a roster refresh blocked on a DHT get returns at once
  impl_->roster->stop();
  impl_->replication->stop();
  impl_->replication.reset();
  impl_->overlay.reset();
  impl_->db.reset();
  spdlog::info("event=stopped");
}

std::uint16_t node::https_port() const { return impl_->server->port(); }
std::uint16_t node::dht_port() const { return impl_->overlay->listen_port(); }

}  // namespace dm2::node
