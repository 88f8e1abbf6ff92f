#include "dm2/dht/overlay.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/disabled_disk_io.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "admission.hpp"
#include "admission_plugin.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/signature.hpp"
#include "dm2/dht/bep44.hpp"
#include "dm2/dht/node_id.hpp"
#include "item_storage.hpp"
#include "session_settings.hpp"

namespace dm2::dht {

namespace lt = libtorrent;

namespace {

std::array<char, 32> key_array(std::string_view key) {
  std::array<char, 32> out{};
  std::memcpy(out.data(), key.data(), out.size());
  return out;
}

std::string as_string(const std::array<char, 32>& a) { return std::string(a.data(), a.size()); }

}  // namespace

struct overlay::impl {
  overlay_settings settings;
  std::unique_ptr<lt::session> session;
  lt::sha1_hash node_id;
  std::shared_ptr<admission> policy = std::make_shared<admission>();
  std::shared_ptr<item_table> items;
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::size_t> table_size{0};
  std::atomic<bool> stopping{false};
  std::thread alert_thread;

  std::mutex mutex;
  std::condition_variable changed;
  bool listen_done = false;
  std::string listen_error;
  bool interrupted = false;  // interrupt(): blocked and later puts/gets fail at once
  std::set<std::string> added_peers;  // "addr:port" given to add_dht_node
  std::vector<std::pair<std::string, int>> roster_peers;  // other members, for re-adding
  std::set<std::string> roster_endpoints;  // roster_peers as "addr:port"
  // "addr:port" of roster peers -> when they last answered a ping or sent us a query, and the
  // last incarnation their pings or ping replies carried (0: none yet).
  struct heard {
    std::chrono::steady_clock::time_point at;
    std::uint64_t incarnation = 0;
  };
  std::map<std::string, heard> last_answer;
  std::uint64_t incarnation = draw_incarnation();
  std::size_t probe_cursor = 0;  // next roster_peers index to ping (alert thread only)
  std::atomic<std::uint64_t> pings{0};

  struct put_state {
    std::optional<int> num_success;
  };
  struct get_state {
    std::optional<mutable_item> best;
    bool done = false;
  };
  std::map<std::string, std::shared_ptr<put_state>> puts;  // key|salt|seq
  std::multimap<std::string, std::shared_ptr<get_state>> gets;  // key|salt

  static std::string put_id(std::string_view key, std::string_view salt, std::int64_t seq) {
    return std::string(key) + '|' + std::string(salt) + '|' + std::to_string(seq);
  }
  static std::string get_id(std::string_view key, std::string_view salt) {
    return std::string(key) + '|' + std::string(salt);
  }

  std::chrono::milliseconds cycle_for(std::size_t peers) const {
    auto by_rate = std::chrono::milliseconds(
        static_cast<std::int64_t>(1000.0 * static_cast<double>(peers) / settings.probe_rate));
    return std::max(settings.probe_interval, by_rate);
  }

  void pump_alerts() {
    using clock = std::chrono::steady_clock;
    auto next_stats = clock::now();
    auto next_probe = next_stats;
    while (!stopping) {
      auto now = clock::now();
      if (now >= next_probe) {
        // One peer per slot: the gap spreads a cycle evenly over the roster, and a slot that
        // sent two packets (ping + re-add) waits two gaps, so the rate bound holds.
        auto [sent, gap] = probe_next();
        if (next_probe < now - gap) next_probe = now;  // a stalled thread does not catch up in a burst
        next_probe += gap * std::max<int>(sent, 1);
      }
      auto wait = std::clamp<clock::duration>(next_probe - clock::now(), std::chrono::milliseconds(1),
                                              std::chrono::milliseconds(100));
      session->wait_for_alert(std::chrono::duration_cast<lt::time_duration>(wait));
      std::vector<lt::alert*> alerts;
      session->pop_alerts(&alerts);
      for (lt::alert* a : alerts) handle(a);
      if (clock::now() >= next_stats) {
        session->post_dht_stats();
        next_stats = clock::now() + std::chrono::milliseconds(500);
      }
    }
  }

  // Records a sign of life from `ep` if it is a roster peer (others are not tracked, so the map
  // stays bounded by the roster). Called on the alert thread and, for queries, on libtorrent's
  // network thread.
  void heard_from(const lt::udp::endpoint& ep, std::uint64_t peer_incarnation) {
    auto key = ep.address().to_string() + ":" + std::to_string(ep.port());
    std::lock_guard lock(mutex);
    if (!roster_endpoints.count(key)) return;
    auto& h = last_answer[key];
    h.at = std::chrono::steady_clock::now();
    if (peer_incarnation != 0) h.incarnation = peer_incarnation;
  }

  // Non-zero and below 2^62, so it stays a positive bencoded integer.
  static std::uint64_t draw_incarnation() {
    std::uint64_t x = 0;
    while (x == 0) {
      auto bytes = crypto::random_bytes(sizeof x);
      std::memcpy(&x, bytes.data(), sizeof x);
      x >>= 2;
    }
    return x;
  }

  void handle(lt::alert* a) {
    if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
      if (ok->socket_type != lt::socket_type_t::utp) return;
      port = ok->port;
      std::lock_guard lock(mutex);
      listen_done = true;
      changed.notify_all();
    } else if (auto* bad = lt::alert_cast<lt::listen_failed_alert>(a)) {
      std::lock_guard lock(mutex);
      if (listen_done) return;
      listen_error = bad->error.message();
      listen_done = true;
      changed.notify_all();
    } else if (auto* stats = lt::alert_cast<lt::dht_stats_alert>(a)) {
      std::size_t n = 0;
      for (const auto& bucket : stats->routing_table) n += static_cast<std::size_t>(bucket.num_nodes);
      table_size = n;
    } else if (auto* reply = lt::alert_cast<lt::dht_direct_response_alert>(a)) {
      // A timeout arrives as the same alert with an empty response: only answers count.
      auto response = reply->response();
      if (response.type() != lt::bdecode_node::dict_t) return;
      heard_from(reply->endpoint, incarnation_in(response.dict_find_dict("r")));
    } else if (auto* put = lt::alert_cast<lt::dht_put_alert>(a)) {
      std::lock_guard lock(mutex);
      auto it = puts.find(put_id(as_string(put->public_key), put->salt, put->seq));
      if (it != puts.end()) it->second->num_success = put->num_success;
      changed.notify_all();
    } else if (auto* item = lt::alert_cast<lt::dht_mutable_item_alert>(a)) {
      std::lock_guard lock(mutex);
      auto range = gets.equal_range(get_id(as_string(item->key), item->salt));
      for (auto it = range.first; it != range.second; ++it) {
        auto& st = *it->second;
        if (item->item.type() != lt::entry::undefined_t &&
            (!st.best || item->seq > st.best->seq)) {
          std::string value = item->item.type() == lt::entry::string_t ? item->item.string() : "";
          st.best = mutable_item{as_string(item->key), item->salt, std::move(value), item->seq};
        }
        if (item->authoritative) st.done = true;
      }
      changed.notify_all();
    }
  }

  // Pings the next roster peer in turn; returns the packets sent and the gap before the next
  // slot (cycle / peers). A member that pinged us before our roster (or its own) was set got
  // refused and left out of the routing table: while the table holds fewer nodes than the
  // roster, the probed peer is also given to add_dht_node (which pings it into the table).
  std::pair<int, std::chrono::steady_clock::duration> probe_next() {
    std::pair<std::string, int> peer;
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex);
      n = roster_peers.size();
      if (n == 0) return {0, settings.probe_interval};
      probe_cursor %= n;
      peer = roster_peers[probe_cursor++];
    }
    std::chrono::steady_clock::duration gap = cycle_for(n) / n;
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(peer.first, ec);
    if (ec) return {0, gap};
    lt::entry ping;
    ping["q"] = "ping";
    ping["a"]["inc"] = static_cast<lt::entry::integer_type>(incarnation);
    session->dht_direct_request(lt::udp::endpoint(a, static_cast<std::uint16_t>(peer.second)), ping);
    int sent = 1;
    if (table_size < n) {
      session->add_dht_node(peer);
      ++sent;
    }
    pings += static_cast<std::uint64_t>(sent);
    return {sent, gap};
  }

  void save_state() {
    if (settings.state_file.empty()) return;
    auto params = session->session_state(lt::session::save_dht_state);
    auto buf = lt::write_session_params_buf(params, lt::session::save_dht_state);
    auto st = crypto::write_public_file(settings.state_file, std::string_view(buf.data(), buf.size()));
    if (!st) spdlog::warn("event=dht_state_not_saved reason=\"{}\"", st.err().message);
  }
};

overlay::overlay(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

overlay::~overlay() {
  impl_->save_state();
  impl_->stopping = true;
  if (impl_->alert_thread.joinable()) impl_->alert_thread.join();
  impl_->session.reset();  // the session's destructor stops its network thread
}

result<std::unique_ptr<overlay>> overlay::start(const overlay_settings& settings,
                                                const std::string& site_public_key,
                                                storage::database* items) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(settings.listen_address, ec);
  if (ec || address.is_unspecified())
    return fail(errc::invalid_argument,
                "DHT listen address must be an explicit IP address, got '" +
                    settings.listen_address + "'");
  if (!(settings.probe_rate > 0) || settings.probe_interval.count() <= 0)
    return fail(errc::invalid_argument, "DHT probe_rate and probe_interval must be positive");

  // spdlog's registry (a static inside libspdlog) is built here, before libtorrent's threads
  // can log: in a process that set up no logging first, their first log line raced its
  // construction as ThreadSanitizer sees it (it cannot see the library's init guard).
  spdlog::default_logger_raw();
  auto p = std::make_unique<impl>();
  p->settings = settings;
  auto id = node_id_of_public_key(site_public_key);
  std::memcpy(p->node_id.data(), id.data(), id.size());

  lt::session_params params(private_overlay_settings(settings.listen_address, settings.listen_port));
  if (!settings.state_file.empty() && std::filesystem::exists(settings.state_file)) {
    // Saved nodes refill the routing table at once; the id itself always comes from the key.
    auto saved = crypto::read_file(settings.state_file);
    if (saved) {
      try {
        auto old = lt::read_session_params(lt::span<const char>(saved->data(),
                                                                static_cast<std::ptrdiff_t>(saved->size())),
                                           lt::session::save_dht_state);
        params.dht_state.nodes = std::move(old.dht_state.nodes);
        params.dht_state.nodes6 = std::move(old.dht_state.nodes6);
      } catch (const std::exception& e) {
        spdlog::warn("event=dht_state_unreadable reason=\"{}\"", e.what());
      }
    }
  }
  params.disk_io_constructor = lt::disabled_disk_io_constructor;
  params.dht_state.nids.clear();
  params.dht_state.nids.emplace_back(address, p->node_id);
  auto table = item_table::open(settings.items, p->policy, items);
  if (!table) return std::move(table).err();
  p->items = std::move(*table);
  params.extensions.push_back(std::make_shared<admission_plugin>(
      p->policy, p->items, p->incarnation,
      [raw = p.get()](const lt::udp::endpoint& from, std::uint64_t inc) { raw->heard_from(from, inc); }));
  params.dht_storage_constructor = item_storage_constructor(p->items);
  p->session = std::make_unique<lt::session>(std::move(params));
  p->alert_thread = std::thread([raw = p.get()] { raw->pump_alerts(); });

  std::string listen_error;
  {
    std::unique_lock lock(p->mutex);
    if (!p->changed.wait_for(lock, settings.start_timeout, [&] { return p->listen_done; })) {
      listen_error = "timed out";
    } else {
      listen_error = p->listen_error;
    }
  }
  if (!listen_error.empty()) {
    p->stopping = true;
    p->alert_thread.join();
    p->session.reset();  // before the members its plugin's callback uses
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

status overlay::set_roster(const std::vector<dht_peer>& peers,
                           const std::vector<std::string>& signing_keys) {
  std::set<std::string> addresses;
  for (const auto& peer : peers) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(peer.address, ec);
    if (ec || a.is_unspecified() || peer.port == 0)
      return fail(errc::invalid_argument, "bad DHT peer endpoint '" + peer.address + ":" +
                                              std::to_string(peer.port) + "'");
    addresses.insert(a.to_string());
  }
  impl_->policy->replace(std::move(addresses),
                         std::set<std::string>(signing_keys.begin(), signing_keys.end()));
  std::vector<std::pair<std::string, int>> others;
  std::set<std::string> endpoints;
  for (const auto& peer : peers)
    if (!(peer.address == impl_->settings.listen_address && peer.port == listen_port())) {
      others.emplace_back(peer.address, peer.port);
      endpoints.insert(boost::asio::ip::make_address(peer.address).to_string() + ":" +
                       std::to_string(peer.port));
    }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->roster_peers = others;
    impl_->roster_endpoints = std::move(endpoints);
    // Peers that left the roster are forgotten, so the map stays bounded by the roster.
    std::erase_if(impl_->last_answer,
                  [&](const auto& e) { return !impl_->roster_endpoints.count(e.first); });
  }
  for (const auto& peer : peers) {
    if (peer.address == impl_->settings.listen_address && peer.port == listen_port()) continue;
    auto endpoint = peer.address + ":" + std::to_string(peer.port);
    {
      std::lock_guard lock(impl_->mutex);
      if (!impl_->added_peers.insert(endpoint).second) continue;
    }
    // A routing-table entry, not a bootstrap router: a bootstrap endpoint never enters the
    // table (notes/libtorrent-dht.md).
    impl_->session->add_dht_node({peer.address, peer.port});
  }
  return {};
}

result<int> overlay::put_mutable(std::string_view private_key_pem, std::string_view salt,
                                 std::string_view value, std::int64_t seq) {
  if (value.size() > max_item_value_size) return fail(errc::too_large, "DHT item value over 996 bytes");
  if (salt.size() > max_item_salt_size) return fail(errc::too_large, "DHT item salt over 64 bytes");
  auto pub = crypto::raw_public_key(private_key_pem);
  if (!pub) return std::move(pub).err();
  auto sig = bep44_signature(private_key_pem, salt, value, seq);
  if (!sig) return std::move(sig).err();
  return put_signed_mutable(*pub, salt, value, seq, *sig);
}

result<int> overlay::put_signed_mutable(std::string_view public_key, std::string_view salt,
                                        std::string_view value, std::int64_t seq,
                                        std::string_view signature) {
  if (public_key.size() != 32) return fail(errc::invalid_argument, "an Ed25519 key is 32 bytes");
  if (signature.size() != 64) return fail(errc::invalid_argument, "an Ed25519 signature is 64 bytes");
  if (value.size() > max_item_value_size) return fail(errc::too_large, "DHT item value over 996 bytes");
  if (salt.size() > max_item_salt_size) return fail(errc::too_large, "DHT item salt over 64 bytes");
  auto state = std::make_shared<impl::put_state>();
  auto id = impl::put_id(public_key, salt, seq);
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->interrupted) return fail(errc::unavailable, "the overlay is stopping");
    impl_->puts[id] = state;
  }
  // libtorrent asks for the item and its signature on its network thread; the signature was
  // made elsewhere (bep44.hpp), so the callback only copies it.
  std::string v(value), sig(signature);
  impl_->session->dht_put_item(
      key_array(public_key),
      [v, sig, seq](lt::entry& item, std::array<char, 64>& sig_out, std::int64_t& seq_out,
                    std::string const&) {
        item = lt::entry(v);
        std::memcpy(sig_out.data(), sig.data(), sig_out.size());
        seq_out = seq;
      },
      std::string(salt));
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait_for(lock, impl_->settings.request_timeout, [&] {
    return state->num_success.has_value() || impl_->interrupted;
  });
  impl_->puts.erase(id);
  if (state->num_success) return *state->num_success;
  if (impl_->interrupted) return fail(errc::unavailable, "the overlay is stopping");
  return fail(errc::timeout, "DHT put did not complete in time");
}

void overlay::interrupt() {
  std::lock_guard lock(impl_->mutex);
  impl_->interrupted = true;
  impl_->changed.notify_all();
}

result<mutable_item> overlay::get_mutable(std::string_view public_key, std::string_view salt) {
  if (public_key.size() != 32) return fail(errc::invalid_argument, "an Ed25519 key is 32 bytes");
  if (salt.size() > max_item_salt_size) return fail(errc::too_large, "DHT item salt over 64 bytes");
  auto state = std::make_shared<impl::get_state>();
  auto id = impl::get_id(public_key, salt);
  std::multimap<std::string, std::shared_ptr<impl::get_state>>::iterator it;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->interrupted) return fail(errc::unavailable, "the overlay is stopping");
    it = impl_->gets.emplace(id, state);
  }
  impl_->session->dht_get_item(key_array(public_key), std::string(salt));
  std::unique_lock lock(impl_->mutex);
  bool done = impl_->changed.wait_for(lock, impl_->settings.request_timeout,
                                      [&] { return state->done || impl_->interrupted; });
  impl_->gets.erase(it);
  if (state->best) return *state->best;
  if (impl_->interrupted) return fail(errc::unavailable, "the overlay is stopping");
  if (!done) return fail(errc::timeout, "DHT get did not complete in time");
  return fail(errc::not_found, "no DHT node holds the item");
}

std::vector<live_peer> overlay::live_peers(std::chrono::milliseconds max_age) const {
  auto cutoff = std::chrono::steady_clock::now() - max_age;
  std::vector<live_peer> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [address, port] : impl_->roster_peers) {
    auto it = impl_->last_answer.find(boost::asio::ip::make_address(address).to_string() + ":" +
                                      std::to_string(port));
    if (it != impl_->last_answer.end() && it->second.at >= cutoff)
      out.push_back({{address, static_cast<std::uint16_t>(port)}, it->second.incarnation});
  }
  return out;
}

std::uint64_t overlay::incarnation() const { return impl_->incarnation; }

std::size_t overlay::roster_peer_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->roster_peers.size();
}

std::chrono::milliseconds overlay::probe_cycle() const { return impl_->cycle_for(roster_peer_count()); }

std::uint64_t overlay::pings_sent() const { return impl_->pings; }

std::uint16_t overlay::listen_port() const { return impl_->port; }

std::string overlay::node_id_hex() const {
  auto state = impl_->session->session_state(lt::session::save_dht_state);
  const auto& nids = state.dht_state.nids;
  const auto& id = nids.empty() ? impl_->node_id : nids.front().second;
  return crypto::to_hex(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

std::size_t overlay::routing_table_size() const { return impl_->table_size; }
std::uint64_t overlay::refused_queries() const { return impl_->policy->refused_queries; }
std::uint64_t overlay::refused_items() const { return impl_->policy->refused_items; }
std::size_t overlay::stored_items() const { return impl_->items->size(); }

}  // namespace dm2::dht
