// The HTTPS socket layer in process, over real TLS on loopback: handlers run on the worker pool,
// inline routes answer while every worker is busy, a full pool answers 503 at once, and a body
// produced piece by piece arrives whole (Content-Length or chunked), or visibly incomplete when
// its source fails, on a connection that keeps serving when it succeeded; the peers' connection
// pool reuses connections and survives a server's restart.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "dm2/crypto/x509.hpp"
#include "dm2/node/https_client.hpp"
#include "dm2/node/router.hpp"
#include "dm2/node/tls.hpp"
#include "https_server.hpp"

namespace dm2::node {
namespace {

using namespace std::chrono_literals;

// A streamed body of `pieces` pieces "piece <k>;", its size announced or not, failing after
// `fail_after` pieces (never when 0).
class counting_source final : public body_source {
 public:
  counting_source(int pieces, bool announce, int fail_after) : pieces_(pieces), announce_(announce), fail_after_(fail_after) {}
  static std::string body(int pieces) {
    std::string all;
    for (int k = 0; k < pieces; ++k) all += piece_text(k);
    return all;
  }
  std::optional<std::uint64_t> size() const override {
    return announce_ ? std::optional<std::uint64_t>(body(pieces_).size()) : std::nullopt;
  }
  result<bool> next(std::string& piece) override {
    if (fail_after_ && sent_ == fail_after_) return fail(errc::integrity_failure, "broken on purpose");
    if (sent_ == pieces_) return false;
    piece = piece_text(sent_++);
    return true;
  }

 private:
  static std::string piece_text(int k) { return "piece " + std::to_string(k) + ";" + std::string(1000, 'x'); }
  int pieces_, sent_ = 0;
  bool announce_;
  int fail_after_;
};

// A server on 127.0.0.1 (its port given or free) whose "/slow" handler waits until release() and whose "/health" is inline;
// "/stream", "/chunked" and "/broken" answer with a counting_source; "/peer" with the fingerprint
// of the client's certificate ("" without one).
class held_server {
 public:
  // `ca` and `port`: those of a server this one replaces (a peer restarted); else new ones.
  held_server(unsigned workers, std::size_t max_in_flight, const crypto::key_and_certificate* ca = nullptr,
              std::uint16_t port = 0)
      : pool_(workers) {
    ca_ = ca ? *ca : *crypto::create_ca("Test CA");
    auto site = *crypto::issue_site_certificate(ca_, {"server", {}, {"127.0.0.1"}, 30});
    auto server = https_server::listen(io_, {"127.0.0.1", port});
    EXPECT_TRUE(server) << server.err().message;
    server_ = *server;
    https_server_options options;
    options.timeout = 10s;
    options.workers = &pool_;
    options.max_in_flight = max_in_flight;
    options.runs_inline = [](const http_request& r) { return path_of(r.target) == "/health"; };
    server_->start(*make_server_tls({ca_.certificate_pem, site.certificate_pem, site.key_pem}),
                   [this](const http_request& r) {
                     auto path = path_of(r.target);
                     if (path == "/slow") {
                       ++held_;
                       released_.wait();
                     }
                     http_response answer{200, "text/plain", {}, path == "/peer" ? r.peer_certificate_fingerprint : "ok"};
                     if (path == "/stream" || path == "/chunked" || path == "/broken")
                       answer.streamed = std::make_shared<counting_source>(300, path != "/chunked", path == "/broken" ? 100 : 0);
                     return answer;
                   },
                   options);
    for (int i = 0; i < 2; ++i) io_threads_.emplace_back([this] { io_.run(); });
  }
  ~held_server() {
    release();
    server_->stop();
    io_.stop();
    for (auto& t : io_threads_) t.join();
    pool_.join();
  }

  result<client_response> get(const std::string& path, std::chrono::milliseconds timeout) {
    return https_request(target(), tls(), "GET", path, {}, timeout);
  }
  https_target target() const { return {"127.0.0.1", server_->port()}; }
  tls_material tls() const { return {ca_.certificate_pem, "", ""}; }
  const crypto::key_and_certificate& ca() const { return ca_; }
  void release() {
    if (!released_flag_.exchange(true)) release_.set_value();
  }
  void wait_until_held(int n) {
    for (int i = 0; i < 500 && held_ < n; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(held_.load(), n);
  }

 private:
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_;
  crypto::key_and_certificate ca_;
  std::shared_ptr<https_server> server_;
  std::vector<std::thread> io_threads_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  std::atomic<bool> released_flag_{false};
  std::atomic<int> held_{0};
};

TEST(https_server, health_answers_while_every_worker_is_busy) {
  held_server server(2, 64);
  auto slow1 = std::async(std::launch::async, [&] { return server.get("/slow", 20s); });
  auto slow2 = std::async(std::launch::async, [&] { return server.get("/slow", 20s); });
  server.wait_until_held(2);

  auto health = server.get("/health", 2s);
  ASSERT_TRUE(health) << health.err().message;
  EXPECT_EQ(health->status, 200);
  // Any other route waits for a worker: none is free until the slow ones are released.
  auto queued = server.get("/other", 500ms);
  EXPECT_FALSE(queued);

  server.release();
  for (auto* f : {&slow1, &slow2}) {
    auto r = f->get();
    ASSERT_TRUE(r) << r.err().message;
    EXPECT_EQ(r->status, 200);
  }
  auto after = server.get("/other", 5s);
  ASSERT_TRUE(after) << after.err().message;
  EXPECT_EQ(after->status, 200);
}

TEST(https_server, a_request_beyond_the_in_flight_bound_gets_503_at_once) {
  held_server server(1, 1);
  auto slow = std::async(std::launch::async, [&] { return server.get("/slow", 20s); });
  server.wait_until_held(1);
  auto refused = server.get("/other", 5s);
  ASSERT_TRUE(refused) << refused.err().message;
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->headers["retry-after"], "1");
  EXPECT_NE(refused->body.find("\"unavailable\""), std::string::npos);
  server.release();
  auto r = slow.get();
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->status, 200);
}

TEST(https_server, a_streamed_body_arrives_whole_and_the_connection_keeps_serving) {
  held_server server(2, 64);
  https_connection connection(server.target(), server.tls());
  for (const char* path : {"/stream", "/chunked", "/stream"}) {
    SCOPED_TRACE(path);
    auto r = connection.request("GET", path, {}, 10s);
    ASSERT_TRUE(r) << r.err().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, counting_source::body(300));
    if (std::string(path) == "/chunked") EXPECT_EQ(r->headers["transfer-encoding"], "chunked");
    else EXPECT_EQ(r->headers["content-length"], std::to_string(counting_source::body(300).size()));
  }
  auto after = connection.request("GET", "/other", {}, 5s);  // the same connection, still in step
  ASSERT_TRUE(after) << after.err().message;
  EXPECT_EQ(after->body, "ok");
}

TEST(https_server, a_source_that_fails_mid_way_leaves_the_body_visibly_incomplete) {
  held_server server(2, 64);
  auto r = server.get("/broken", 10s);
  EXPECT_FALSE(r) << "a failed body must not look complete";
  auto after = server.get("/stream", 10s);
  ASSERT_TRUE(after) << after.err().message;
  EXPECT_EQ(after->body, counting_source::body(300));
}

// The client shares one TLS context per material (CA, certificate, key) across connections:
// each material keeps its own, so a client of another CA stays refused after a good one
// connected (and the good one is not refused after it), and each client certificate is the one
// the server sees, connection after connection.
TEST(https_server, each_client_tls_material_keeps_its_own_context) {
  held_server server(2, 64);
  auto other_ca = *crypto::create_ca("Other CA");
  auto alice = *crypto::issue_site_certificate(server.ca(), {"alice", {}, {"127.0.0.1"}, 30});
  auto bob = *crypto::issue_site_certificate(server.ca(), {"bob", {}, {"127.0.0.1"}, 30});
  tls_material as_alice{server.ca().certificate_pem, alice.certificate_pem, alice.key_pem};
  tls_material as_bob{server.ca().certificate_pem, bob.certificate_pem, bob.key_pem};
  tls_material wrong_ca{other_ca.certificate_pem, "", ""};
  auto peer = [&](const tls_material& m) { return https_request(server.target(), m, "GET", "/peer", {}, 10s); };
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    auto anonymous = peer(server.tls());
    ASSERT_TRUE(anonymous) << anonymous.err().message;
    EXPECT_EQ(anonymous->body, "");
    EXPECT_FALSE(peer(wrong_ca)) << "a server certificate of another CA must be refused";
    auto a = peer(as_alice), b = peer(as_bob);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->body, crypto::inspect_certificate(alice.certificate_pem)->sha256_fingerprint);
    EXPECT_EQ(b->body, crypto::inspect_certificate(bob.certificate_pem)->sha256_fingerprint);
  }
}

// The peers' connection pool: successive requests to one server share one connection (one TLS
// handshake), a POST included; a server restarted between two requests (its old connections
// closed) costs a new connection, never a failed request, for a GET or a POST.
TEST(https_pool, requests_share_a_kept_alive_connection_and_a_restarted_peer_still_answers) {
  https_pool pool;
  auto server = std::make_unique<held_server>(2, 64);
  auto target = server->target();
  auto ca = server->ca();
  auto ask = [&](const std::string& method) { return pool.request(target, server->tls(), method, "/peer", {}, 10s); };
  for (int i = 0; i < 3; ++i) {
    auto r = ask(i == 1 ? "POST" : "GET");
    ASSERT_TRUE(r) << r.err().message;
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(pool.connections_opened(), 1u);
  EXPECT_EQ(pool.requests_reusing(), 2u);
  for (const char* method : {"GET", "POST"}) {
    SCOPED_TRACE(method);
    server.reset();  // the peer restarts on the same address, with the same certificate authority
    server = std::make_unique<held_server>(2, 64, &ca, target.port);
    auto opened = pool.connections_opened();
    auto r = ask(method);
    ASSERT_TRUE(r) << r.err().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(pool.connections_opened(), opened + 1);
  }
  // Another TLS material is another pool entry: its own connection.
  auto opened = pool.connections_opened();
  auto other = *crypto::issue_site_certificate(ca, {"alice", {}, {"127.0.0.1"}, 30});
  auto r = pool.request(target, {ca.certificate_pem, other.certificate_pem, other.key_pem}, "GET", "/peer", {}, 10s);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->body, crypto::inspect_certificate(other.certificate_pem)->sha256_fingerprint);
  EXPECT_EQ(pool.connections_opened(), opened + 1);
}

// Idle connections go after the idle time: the next request opens a new one.
TEST(https_pool, an_idle_connection_is_dropped_after_the_idle_time) {
  https_pool pool({4, 200ms});
  held_server server(2, 64);
  ASSERT_TRUE(pool.request(server.target(), server.tls(), "GET", "/health"));
  ASSERT_TRUE(pool.request(server.target(), server.tls(), "GET", "/health"));
  EXPECT_EQ(pool.connections_opened(), 1u);
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(pool.request(server.target(), server.tls(), "GET", "/health"));
  EXPECT_EQ(pool.connections_opened(), 2u);
}

}  // namespace
}  // namespace dm2::node
