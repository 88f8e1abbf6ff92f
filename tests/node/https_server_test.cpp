// The HTTPS socket layer in process, over real TLS on loopback: handlers run on the worker pool,
// inline routes answer while every worker is busy, and a full pool answers 503 at once.
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

// A server on 127.0.0.1 whose "/slow" handler waits until release() and whose "/health" is inline.
class held_server {
 public:
  held_server(unsigned workers, std::size_t max_in_flight) : pool_(workers) {
    ca_ = *crypto::create_ca("Test CA");
    auto site = *crypto::issue_site_certificate(ca_, {"server", {}, {"127.0.0.1"}, 30});
    auto server = https_server::listen(io_, {"127.0.0.1", 0});
    EXPECT_TRUE(server) << server.err().message;
    server_ = *server;
    https_server_options options;
    options.timeout = 10s;
    options.workers = &pool_;
    options.max_in_flight = max_in_flight;
    options.runs_inline = [](const http_request& r) { return path_of(r.target) == "/health"; };
    server_->start(*make_server_tls({ca_.certificate_pem, site.certificate_pem, site.key_pem}),
                   [this](const http_request& r) {
                     if (path_of(r.target) == "/slow") {
                       ++held_;
                       released_.wait();
                     }
                     return http_response{200, "text/plain", {}, "ok"};
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
    return https_request({"127.0.0.1", server_->port()}, {ca_.certificate_pem, "", ""}, "GET", path, {}, timeout);
  }
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

}  // namespace
}  // namespace dm2::node
