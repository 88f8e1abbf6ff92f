#include "dm2/dht/overlay.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/disabled_disk_io.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <openssl/sha.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "session_settings.hpp"

namespace dm2::dht {

namespace lt = libtorrent;

struct overlay::impl {
  std::unique_ptr<lt::session> session;
  lt::sha1_hash node_id;
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::size_t> table_size{0};
  std::atomic<bool> stopping{false};
  std::thread alert_thread;

  std::mutex mutex;
  std::condition_variable listen_changed;
  bool listen_done = false;
  std::string listen_error;

  void pump_alerts() {
    auto next_stats = std::chrono::steady_clock::now();
    while (!stopping) {
      session->wait_for_alert(std::chrono::milliseconds(200));
      std::vector<lt::alert*> alerts;
      session->pop_alerts(&alerts);
      for (lt::alert* a : alerts) handle(a);
      if (std::chrono::steady_clock::now() >= next_stats) {
        session->post_dht_stats();
        next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      }
    }
  }

  void handle(lt::alert* a) {
    if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
      if (ok->socket_type != lt::socket_type_t::utp)
        return;
      port = ok->port;
      std::lock_guard lock(mutex);
      listen_done = true;
      listen_changed.notify_all();
    } else if (auto* bad = lt::alert_cast<lt::listen_failed_alert>(a)) {
      std::lock_guard lock(mutex);
      if (listen_done) return;
      listen_error = bad->error.message();
      listen_done = true;
      listen_changed.notify_all();
    } else if (auto* stats = lt::alert_cast<lt::dht_stats_alert>(a)) {
      std::size_t n = 0;
      for (const auto& bucket : stats->routing_table) n += static_cast<std::size_t>(bucket.num_nodes);
      table_size = n;
    }
  }
};

overlay::overlay(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

overlay::~overlay() {
  impl_->stopping = true;
  if (impl_->alert_thread.joinable()) impl_->alert_thread.join();
  impl_->session.reset();  // the session's destructor stops its network thread
}

result<std::unique_ptr<overlay>> overlay::start(const overlay_settings& settings,
                                                const std::string& site_public_key) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(settings.listen_address, ec);
  if (ec || address.is_unspecified())
    return fail(errc::invalid_argument,
                "DHT listen address must be an explicit IP address, got '" +
                    settings.listen_address + "'");

  auto p = std::make_unique<impl>();
  SHA1(reinterpret_cast<const unsigned char*>(site_public_key.data()), site_public_key.size(),
       reinterpret_cast<unsigned char*>(p->node_id.data()));

  lt::session_params params(private_overlay_settings(settings.listen_address, settings.listen_port));
  params.disk_io_constructor = lt::disabled_disk_io_constructor;
  params.dht_state.nids.emplace_back(address, p->node_id);
  p->session = std::make_unique<lt::session>(std::move(params));
  p->alert_thread = std::thread([raw = p.get()] { raw->pump_alerts(); });

  std::string listen_error;
  {
    std::unique_lock lock(p->mutex);
    if (!p->listen_changed.wait_for(lock, settings.start_timeout, [&] { return p->listen_done; })) {
      listen_error = "timed out";
    } else {
      listen_error = p->listen_error;
    }
  }
  if (!listen_error.empty()) {
    p->stopping = true;
    p->alert_thread.join();
    return fail(errc::unavailable, "cannot listen on " + settings.listen_address + ":" +
                                       std::to_string(settings.listen_port) +
                                       "/udp for the DHT: " + listen_error);
  }
  // Only now: a DHT enabled before the socket listens discards the node id (notes/libtorrent-dht.md).
  lt::settings_pack enable;
  enable.set_bool(lt::settings_pack::enable_dht, true);
  p->session->apply_settings(std::move(enable));
  return std::unique_ptr<overlay>(new overlay(std::move(p)));
}

std::uint16_t overlay::listen_port() const { return impl_->port; }

std::string overlay::node_id_hex() const {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto byte : impl_->node_id) {
    auto b = static_cast<unsigned char>(byte);
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::size_t overlay::routing_table_size() const { return impl_->table_size; }

}  // namespace dm2::dht
