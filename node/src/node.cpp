#include "dm2/node/node.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <thread>

#include "dm2/dht/overlay.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/node/metrics.hpp"
#include "dm2/node/router.hpp"
#include "dm2/node/tls.hpp"
#include "dm2/node/version.hpp"
#include "dm2/storage/database.hpp"
#include "access/access_service.hpp"
#include "audit_log.hpp"
#include "consortium.hpp"
#include "dm2/node/https_client.hpp"
#include "https_server.hpp"
#include "ingest/ingest_service.hpp"
#include "overlay_service.hpp"
#include "provenance/result_cache.hpp"
#include "roster_service.hpp"
#include "routes/routes.hpp"
#include "uploaded_series.hpp"

namespace dm2::node {
namespace asio = boost::asio;
namespace fs = std::filesystem;

struct node::impl {
  node_config config;
  asio::io_context io;
  std::unique_ptr<asio::thread_pool> workers;  // request handlers (https_server)
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::shared_ptr<https_server> server;
  std::unique_ptr<storage::database> db;
  std::unique_ptr<audit_log> audit;
  std::unique_ptr<result_cache> results;  // stage-2 scores and their provenance
  std::unique_ptr<access::access_service> access;
  std::unique_ptr<dht::overlay> overlay;
  site_identity identity;
  std::unique_ptr<consortium> members;
  std::unique_ptr<overlay_service> replication;
  std::unique_ptr<roster_service> roster;
  std::unique_ptr<ingest_service> ingest;
  query_book queries;
  background_jobs jobs;  // stage 2 of queries by image
  std::unique_ptr<bounded_pool> stage_two_scoring;  // stage 2 at this site as an owner
  https_pool peer_connections;  // keep-alive connections of the routes' calls to other sites
  metrics stats;
  router routes;
  std::vector<std::thread> threads;
  std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();

  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stopped = false;

  // Registers every resource's routes (node/src/routes/).
  void add_routes();
  // Appends an audit entry for each query this site answers (who asked, which query, how many hits).
  void audit_query_answer(const std::string& querier, const std::string& query_id, std::size_t hits);
  http_response serve(const http_request& request);
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

access::access_settings access_settings_of(const node_config& c) {
  access::access_settings s;
  s.argon2.memory_kib = c.argon2_memory_kib;
  s.argon2.passes = c.argon2_passes;
  s.signin.per_account = c.signin_failures_per_account;
  s.signin.per_address = c.signin_failures_per_address;
  s.signin.window_s = c.signin_window.count();
  s.session_ttl_s = c.session_ttl.count();
  return s;
}

}  // namespace

void node::impl::add_routes() {
  route_context c;
  c.config = &config;
  c.identity = &identity;
  c.members = members.get();
  c.overlay = replication.get();
  c.roster = roster.get();
  c.queries = &queries;
  c.stats = &stats;
  c.audit = audit.get();
  c.access = access.get();
  c.ingest = ingest.get();
  c.jobs = &jobs;
  c.stage_two_scoring = stage_two_scoring.get();
  c.texts = diagnosis_texts(*db);
  c.results = results.get();
  c.peer_connections = &peer_connections;
  // Care teams and a patient's own record follow the nominative links of the series ingested here.
  c.patient_of = [i = ingest.get()](std::string_view lfn) { return i->patient_of(std::string(lfn)); };
  add_status_routes(routes, c);
  add_roster_routes(routes, c);
  add_overlay_routes(routes, c);
  add_record_routes(routes, c);
  add_query_routes(routes, c);
  add_session_routes(routes, c);
  add_user_routes(routes, c);
  add_care_team_routes(routes, c);
  add_grant_routes(routes, c);
  add_ingest_routes(routes, c);
  add_series_routes(routes, c);
  add_thumbnail_routes(routes, c);
  add_access_history_routes(routes, c);
  add_nominative_routes(routes, c);
  add_similarity_routes(routes, c);
  add_my_series_routes(routes, c);
  add_dicomweb_routes(routes, c);
  add_web_routes(routes, c);
  add_diagnosis_routes(routes, c);
  add_provenance_routes(routes, c);
}

void node::impl::audit_query_answer(const std::string& querier, const std::string& query_id, std::size_t hits) {
  (void)audit->append({0, "site:" + querier, "query_answer", query_id, "answered", "hits=" + std::to_string(hits)});
}

http_response node::impl::serve(const http_request& request) {
  auto response = routes.handle(request);
  auto count = [this, route = routes.route_label(request)](int code) {
    stats.increment("dm2_http_requests_total", "route=\"" + route + "\",code=\"" + std::to_string(code) + "\"");
  };
  if (!response.deferred) {
    count(response.status);
    return response;
  }
  // A deferred answer is counted when it is sent.
  response.deferred = [count, producer = std::move(response.deferred)](http_response::reply_function reply) {
    producer([count, reply = std::move(reply)](http_response r) {
      count(r.status);
      reply(std::move(r));
    });
  };
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
  // A node on its embedded defaults is a consortium of one: it adopts its development roster.
  if (p->config.roster.empty() && !p->identity.dev_roster.empty()) {
    p->config.roster = p->identity.dev_roster;
    p->config.consortium_public_key = p->identity.dev_consortium_public_key;
  }

  // RocksDB's LOCK keeps a second dm2d off this data directory from here on.
  auto signer = storage::ed25519_audit_signer(p->identity.dht_key_pem);
  if (!signer) return std::move(signer).err();
  auto db = storage::database::open(config.data_dir / "db", p->identity.storage_key, {}, std::move(*signer));
  if (!db) return std::move(db).err();
  p->db = std::move(*db);
  p->audit = std::make_unique<audit_log>(*p->db);
  auto results = result_cache::open(*p->db);
  if (!results) return std::move(results).err();
  p->results = std::move(*results);

  auto members = consortium::load(p->config, p->identity);
  if (!members) return std::move(members).err();
  p->members = std::move(*members);
  p->access = std::make_unique<access::access_service>(*p->db, access_settings_of(p->config),
                                                       [raw = p.get()](std::string_view site) -> result<std::string> {
                                                         auto m = raw->members->member_by_id(site);
                                                         if (!m) return std::move(m).err();
                                                         return m->dht_public_key;
                                                       });

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
  // A restart is announced by the incarnation in the liveness pings (overlay_membership), so
  // agreeing pairs re-check on a restart, not on a timer. The timer stays as a slow backstop
  // (every 120 periods: an hour by default) for what no restart announces: a peer whose pings
  // carry no incarnation (an older dm2), or copies lost without a restart (docs/overlay.md).
  replication_settings.agreed_recheck_rounds = 120;
  auto replication = overlay_service::create(*p->overlay, *p->members, p->identity, *p->db, replication_settings,
                                             config.liveness_timeout, config.tree_fanout_min_sites);
  if (!replication) return std::move(replication).err();
  p->replication = std::move(*replication);
  p->roster = std::make_unique<roster_service>(*p->members, *p->overlay, *p->replication, p->identity,
                                               p->config.consortium_public_key, config.roster_refresh, p->stats);

  auto ingest = ingest_service::create(p->config, p->identity, *p->db, *p->replication, p->stats);
  if (!ingest) return std::move(ingest).err();
  p->ingest = std::move(*ingest);
  sweep_upload_scratch(p->config.data_dir);  // DICOM uploads a crash left mid-query

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
  p->stats.describe("dm2_stage_two_scores_total", "counter",
                    "Stage-2 scores this site gave, by source: computed, or cached (reused from the result cache).");
  p->stats.describe("dm2_result_cache_entries", "gauge", "Entries in the stage-2 result cache (computed and received).");
  p->stats.gauge_callback("dm2_result_cache_entries", [raw = p.get()] { return static_cast<double>(raw->results->size()); });
  p->stats.describe("dm2_dht_routing_table_nodes", "gauge", "Nodes in the DHT routing table.");
  p->stats.gauge_callback("dm2_dht_routing_table_nodes",
                          [raw = p.get()] { return static_cast<double>(raw->overlay->routing_table_size()); });
  p->stats.describe("dm2_peer_connections_opened_total", "counter",
                    "Mutual-TLS connections the node opened for its calls to other sites (key shares, sealed series, grants).");
  p->stats.gauge_callback("dm2_peer_connections_opened_total",
                          [raw = p.get()] { return static_cast<double>(raw->peer_connections.connections_opened()); });
  p->stats.describe("dm2_peer_requests_reusing_total", "counter",
                    "Calls to other sites sent on a kept-alive connection (no new TLS handshake).");
  p->stats.gauge_callback("dm2_peer_requests_reusing_total",
                          [raw = p.get()] { return static_cast<double>(raw->peer_connections.requests_reusing()); });
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
  p->stage_two_scoring = std::make_unique<bounded_pool>(config.stage2_threads, config.stage2_waiting);
  p->add_routes();

  p->workers = std::make_unique<asio::thread_pool>(config.worker_threads);
  https_server_options options;
  options.body_limit = config.body_limit;
  options.timeout = config.request_timeout;
  options.workers = p->workers.get();
  // Cheap, never-blocking routes answer on the I/O thread even when every worker is busy.
  options.runs_inline = [](const http_request& r) {
    auto path = path_of(r.target);
    return path == "/health" || path == "/metrics";
  };
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
  p->ingest->start();

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
  impl_->workers->join();  // handlers under way finish; the services they use are still up
  impl_->jobs.join();      // stage-2 jobs end by their queries' deadlines
  impl_->stage_two_scoring->join();  // queued scoring runs; its replies go nowhere (io stopped)
  impl_->overlay->interrupt();  // a roster refresh blocked on a DHT get returns at once
  impl_->ingest->stop();  // before the overlay it publishes to
  impl_->roster->stop();
  impl_->replication->stop();
  impl_->ingest.reset();
  impl_->replication.reset();
  impl_->overlay.reset();
  impl_->access.reset();
  impl_->results.reset();
  impl_->db.reset();
  spdlog::info("event=stopped");
}

std::uint16_t node::https_port() const { return impl_->server->port(); }
std::uint16_t node::dht_port() const { return impl_->overlay->listen_port(); }

}  // namespace dm2::node
