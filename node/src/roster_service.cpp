#include "roster_service.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "dm2/crypto/hash.hpp"
#include "dm2/dht/roster_sync.hpp"
#include "dm2/node/https_client.hpp"

namespace dm2::node {
namespace {

using steady = std::chrono::steady_clock;
constexpr auto fetch_timeout = std::chrono::seconds(5);

std::int64_t wall_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

// GET /v1/roster from a member over mutual TLS. A server whose certificate is not the one the
// roster lists for that member is refused: the document is only as good as its source's identity
// for the hash check to mean "a member served it" (the signature check comes after, in roster_sync).
class https_roster_fetcher final : public dht::roster_fetcher {
 public:
  https_roster_fetcher(const site_identity& id, const std::atomic<bool>& stopping)
      : tls_{id.ca_certificate_pem, id.certificate_pem, id.private_key_pem},
        own_fingerprint_(id.certificate_fingerprint),
        stopping_(stopping) {}

  result<std::string> fetch(const crypto::site_entry& from) override {
    if (stopping_) return fail(errc::cancelled, "the node is stopping");
    if (from.certificate_sha256 == own_fingerprint_) return fail(errc::invalid_argument, "this site itself");
    auto ep = crypto::parse_endpoint(from.https_endpoint);
    if (!ep) return std::move(ep).err();
    auto r = https_request({ep->address, ep->port}, tls_, "GET", "/v1/roster", {}, fetch_timeout);
    if (!r) {
      spdlog::debug("event=roster_fetch_failed peer={} reason=\"{}\"", from.site_id, r.err().message);
      return std::move(r).err();
    }
    if (r->server_certificate_fingerprint != from.certificate_sha256) {
      spdlog::warn("event=peer_certificate_mismatch site={}", from.site_id);
      return fail(errc::permission_denied, "the server certificate is not the roster's");
    }
    if (r->status != 200) return fail(errc::unavailable, "answered " + std::to_string(r->status));
    return std::move(r->body);
  }

 private:
  tls_material tls_;
  std::string own_fingerprint_;
  const std::atomic<bool>& stopping_;
};

// An announcement the operator signed, held by the node it was given to.
struct held_announcement {
  std::string document;
  std::string signature;
  std::uint64_t version = 0;
};

}  // namespace

struct roster_service::impl {
  impl(consortium& c, dht::overlay& o, overlay_service& r, const site_identity& id, std::string key,
       std::chrono::seconds period, metrics& m)
      : members(c),
        overlay(o),
        replication(r),
        stats(m),
        consortium_key(std::move(key)),
        refresh_period(period),
        fetcher(id, stopping) {
    if (!members.enabled()) return;
    auto self = members.self();
    sync = std::make_unique<dht::roster_sync>(overlay, members.state(), fetcher, consortium_key,
                                              self ? self->site_id : std::string(), &wall_seconds);
    sync->on_adopted = [this](const crypto::roster&) {
      members.save();
      adopted("announcement");
    };
  }

  // roster_sync has applied the allow-lists of what it adopted, but a POST may have adopted a
  // newer roster in between and applied it first: every path re-applies the current roster under
  // one lock, so the last set_roster is always the newest roster's.
  void apply_allow_lists() {
    std::lock_guard lock(apply_mutex);
    if (auto s = sync->apply_current(); !s)
      spdlog::warn("event=overlay_roster_failed reason=\"{}\"", s.err().message);
  }

  consortium& members;
  dht::overlay& overlay;
  overlay_service& replication;
  metrics& stats;
  std::string consortium_key;
  std::chrono::seconds refresh_period;
  std::atomic<bool> stopping{false};
  https_roster_fetcher fetcher;
  std::unique_ptr<dht::roster_sync> sync;  // with a consortium only; used on the roster thread
  std::thread thread;
  std::mutex apply_mutex;

  std::mutex mutex;
  std::condition_variable wake;
  std::optional<held_announcement> held;  // re-put every period until a newer roster replaces it
  bool put_now = false;

  // After any adoption (saved by then): the overlay's allow-lists and replication's membership.
  void adopted(const char* via) {
    apply_allow_lists();
    replication.roster_changed();
    stats.increment("dm2_roster_adoptions_total", std::string("via=\"") + via + "\"");
  }

  // BEP44 puts are one-shot (libtorrent never republishes), so the node given the announcement
  // puts it again every period while it announces this node's current roster.
  void put_held() {
    std::optional<held_announcement> a;
    {
      std::lock_guard lock(mutex);
      if (held && held->version < members.version()) held.reset();
      a = held;
    }
    if (!a) return;
    auto stored = dht::relay_roster_announcement(overlay, a->document, consortium_key, a->signature);
    const char* outcome = !stored ? "failed" : *stored > 0 ? "stored" : "unstored";
    stats.increment("dm2_roster_announcements_total", std::string("result=\"") + outcome + "\"");
    if (stored)
      spdlog::debug("event=roster_announced version={} stored={}", a->version, *stored);
    else
      spdlog::warn("event=roster_announce_failed version={} reason=\"{}\"", a->version, stored.err().message);
  }

  void refresh() {
    auto r = sync->refresh();
    if (!r && !stopping) spdlog::warn("event=roster_refresh_failed reason=\"{}\"", r.err().message);
  }

  void run() {
    auto next = steady::now() + refresh_period;
    std::unique_lock lock(mutex);
    while (!stopping) {
      wake.wait_until(lock, next, [&] { return stopping.load() || put_now; });
      if (stopping) break;
      bool announce_only = put_now && steady::now() < next;
      put_now = false;
      lock.unlock();
      put_held();
      if (!announce_only) refresh();
      lock.lock();
      if (!announce_only) next = steady::now() + refresh_period;
    }
  }
};

roster_service::roster_service(consortium& members, dht::overlay& overlay, overlay_service& replication,
                               const site_identity& identity, std::string consortium_public_key,
                               std::chrono::seconds refresh, metrics& stats)
    : impl_(std::make_unique<impl>(members, overlay, replication, identity, std::move(consortium_public_key),
                                   refresh, stats)) {
  stats.describe("dm2_roster_adoptions_total", "counter",
                 "Rosters adopted: via=post (the operator's POST /v1/roster) or via=announcement "
                 "(the DHT announcement and a fetch from a member).");
  stats.describe("dm2_roster_announcements_total", "counter",
                 "Puts of a roster announcement this node relays, by result (stored, unstored, failed).");
}

roster_service::~roster_service() { stop(); }

void roster_service::start() {
  if (!impl_->sync) return;
  impl_->apply_allow_lists();
  impl_->thread = std::thread([raw = impl_.get()] { raw->run(); });
}

void roster_service::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

result<roster_offer_outcome> roster_service::offer(std::string_view body) {
  if (!impl_->sync) return fail(errc::unavailable, "this node belongs to no consortium");
  auto json = nlohmann::json::parse(body, nullptr, false);
  auto doc = json.is_object() ? json.find("document") : json.end();
  auto sig = json.is_object() ? json.find("announcement_signature") : json.end();
  if (!json.is_object() || doc == json.end() || !doc->is_string() || (sig != json.end() && !sig->is_string()))
    return fail(errc::malformed_input,
                "expected {\"document\":\"<signed roster document>\",\"announcement_signature\":\"<128 hex>\"}");
  auto document = doc->get<std::string>();
  std::optional<std::string> signature;
  if (sig != json.end()) {
    auto raw = crypto::from_hex(sig->get<std::string>());
    if (!raw || raw->size() != 64)
      return fail(errc::malformed_input, "announcement_signature must be 128 hex digits");
    // Checked before adopting: a request with a bad announcement changes nothing.
    if (auto s = dht::verify_roster_announcement(document, impl_->consortium_key, *raw); !s)
      return std::move(s).err();
    signature = std::move(*raw);
  }
  auto adopted = impl_->members.offer(document);
  if (!adopted) return std::move(adopted).err();
  roster_offer_outcome out{*adopted, impl_->members.version(), signature.has_value()};
  if (*adopted) {
    impl_->adopted("post");
    spdlog::info("event=roster_adopted version={} via=post", out.version);
  }
  if (signature) {
    {
      std::lock_guard lock(impl_->mutex);
      impl_->held = held_announcement{std::move(document), std::move(*signature), out.version};
      impl_->put_now = true;
    }
    impl_->wake.notify_all();
  }
  return out;
}

}  // namespace dm2::node
