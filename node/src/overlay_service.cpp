#include "overlay_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/thread_pool.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/seal.hpp"
#include "dm2/dht/clock.hpp"
#include "dm2/dht/message_codec.hpp"
#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "dm2/node/https_client.hpp"
#include "query_scoring.hpp"
#include "stage_one/stage_one_index.hpp"
#include "query_signer.hpp"
#include "records.hpp"

namespace dm2::node {
namespace asio = boost::asio;

namespace {

constexpr auto tick_period = std::chrono::milliseconds(250);

bool is_query_message(const dht::message& m) {
  return std::holds_alternative<dht::query_request>(m) || std::holds_alternative<dht::query_answer>(m) ||
         std::holds_alternative<dht::subtree_request>(m) || std::holds_alternative<dht::subtree_answer>(m);
}

// What the fan-outs cost this site on the wire (GET /v1/overlay, "query_traffic"): the
// fan-out comparison on real processes (bench/fanout_bench) reads the querier's and the total.
struct query_traffic {
  std::atomic<std::uint64_t> messages_sent{0}, bytes_sent{0}, messages_received{0}, bytes_received{0};
};

// Shares are sealed to the holder's X25519 key on the roster, with the key id as associated data
// (what the holder's x25519_keyring opens).
std::unique_ptr<dht::owned_key_source> make_key_source(const std::string& self_site, const consortium& c) {
  return std::make_unique<dht::owned_key_source>(
      self_site, [&c](const std::string& holder, const std::string& key_id, std::string_view raw) -> result<std::string> {
        auto member = c.member_by_id(holder);
        if (!member) return std::move(member).err();
        return crypto::seal(member->sealing_public_key, raw, key_id);
      });
}

// Sends each message on the client pool with mutual TLS; best effort, as dht::transport says.
// One keep-alive connection per peer, so a repair round costs no TLS handshake per message;
// messages to one peer go out in order, one at a time.
class https_transport final : public dht::transport {
 public:
  https_transport(asio::thread_pool& pool, const consortium& members, const site_identity& id, query_traffic& traffic)
      : pool_(pool),
        members_(members),
        tls_{id.ca_certificate_pem, id.certificate_pem, id.private_key_pem},
        traffic_(traffic) {}

  void send(const std::string&, const std::string& to_site, dht::message m) override {
    auto body = dht::encode_message(m);
    if (is_query_message(m)) {
      ++traffic_.messages_sent;
      traffic_.bytes_sent += body.size();
    }
    asio::post(pool_, [this, to_site, body = std::move(body), name = dht::message_name(m)] {
      auto peer = members_.member_by_id(to_site);
      if (!peer) return;
      auto ep = crypto::parse_endpoint(peer->https_endpoint);
      if (!ep) return;
      auto& peer_link = link_to(to_site, *ep);
      std::lock_guard lock(peer_link.mutex);
      auto r = peer_link.connection.request("POST", "/v1/overlay/message", body, std::chrono::seconds(10));
      if (r && r->server_certificate_fingerprint != peer->certificate_sha256) peer_link.connection.close();
      if (!r || r->status != 202 || r->server_certificate_fingerprint != peer->certificate_sha256)
        spdlog::debug("event=overlay_send_failed to={} message={} reason=\"{}\"", to_site, name,
                      r ? std::to_string(r->status) : r.err().message);
    });
  }

 private:
  struct link {
    link(https_target target, tls_material tls) : connection(std::move(target), std::move(tls)) {}
    std::mutex mutex;
    https_connection connection;
  };

  // The connection to `site`, made on first use (and again when its endpoint changed).
  link& link_to(const std::string& site, const endpoint& ep) {
    std::lock_guard lock(mutex_);
    auto& slot = links_[site];
    if (!slot || slot->first != ep.to_string())
      slot = std::make_unique<std::pair<std::string, link>>(
          std::piecewise_construct, std::forward_as_tuple(ep.to_string()),
          std::forward_as_tuple(https_target{ep.address, ep.port}, tls_));
    return slot->second;
  }

  asio::thread_pool& pool_;
  const consortium& members_;
  tls_material tls_;
  query_traffic& traffic_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<std::pair<std::string, link>>> links_;  // site -> (endpoint, link)
};

}  // namespace

struct overlay_service::impl : std::enable_shared_from_this<impl> {
  impl(dht::overlay& o, const consortium& c, const site_identity& id, std::unique_ptr<stage_one::stage_one_index> index,
       std::unique_ptr<dht::storage_replica_store> st, storage::database& database, dht::replication_settings s,
       std::chrono::milliseconds liveness, std::size_t tree_min_sites)
      : timer(strand),
        overlay(o),
        members(c),
        transport(pool, c, id, traffic),
        settings(s),
        liveness_age(liveness),
        tree_fanout_min_sites(tree_min_sites),
        dht_key_pem(id.dht_key_pem),
        stage_one(std::move(index)),
        store(std::move(st)),
        db(database) {
    // The seal key lets this site take part in share repair while a key's owner is down.
    if (auto k = dht::x25519_keyring::from_private_key(id.sealing_key_pem))
      keyring.emplace(std::move(*k));
    else
      spdlog::warn("event=share_repair_disabled reason=\"{}\"", k.err().message);
  }

  // Its own thread: HTTP handlers wait on it, so it must not share the node's I/O threads.
  asio::io_context strand;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(strand);
  std::thread runner;
  asio::steady_timer timer;
  asio::thread_pool pool{2};
  query_traffic traffic;  // before the transport, which counts into it
  dht::overlay& overlay;
  const consortium& members;
  https_transport transport;
  dht::replication_settings settings;
  std::chrono::milliseconds liveness_age;  // a peer silent this long counts as down
  std::size_t tree_fanout_min_sites;       // from this many live sites on, queries go down a tree
  dht::steady_clock_source clock;
  std::string dht_key_pem;  // signs this site's records
  // Follows the store (its listener) from create() on; on the strand from here on.
  std::unique_ptr<stage_one::stage_one_index> stage_one;
  std::unique_ptr<dht::storage_replica_store> store;  // on the strand from here on
  std::optional<dht::x25519_keyring> keyring;
  storage::database& db;
  // The keys this site owns, made with the engine (shares name their owner's site id).
  std::unique_ptr<dht::owned_key_source> keys;  // on the strand from here on
  std::unique_ptr<dht::overlay_membership> membership;  // on the strand from here on
  std::unique_ptr<dht::replicator> engine;
  std::unique_ptr<query_signer> signer;
  std::unique_ptr<dht::query_fanout> queries;
  std::unique_ptr<dht::tree_fanout> tree;
  dht::answer_observer answer_observer;
  std::string self_site;
  bool roster_dirty = true;
  // Until our view settles (tree_fanout::view_settles_at): every roster site heard from, or one
  // liveness period (the one in use, which grows with the roster) since the tree started.
  bool view_settled = false;
  dht::millis tree_started{0};
  bool stopped = false;  // on the service thread only

  void refresh_membership() {
    update_membership();
    if (!tree || view_settled) return;
    view_settled = membership->live_count() == membership->known_count();
    tree->view_settles_at(view_settled ? clock.now() : tree_started + membership->liveness_age());
  }

  // Roster sites not heard from while the view has not settled (none once it has: then a site
  // not live is down, and its records' holders answer for it).
  std::vector<std::string> unheard_sites() {
    refresh_membership();
    std::vector<std::string> out;
    if (!membership || view_settled || clock.now() >= tree_started + membership->liveness_age()) return out;
    std::unordered_set<std::string> live;
    for (const auto& l : membership->live_sites()) live.insert(l.site_id);
    for (const auto& s : membership->known_sites())
      if (!live.contains(s.site_id)) out.push_back(s.site_id);
    return out;
  }

  // A query goes to the sites this one knows to be live. Just started, it may not have heard from
  // all of them yet, and a site it has not heard from would be neither asked nor answered for
  // (its holders answer only for sites the querier leaves out knowingly). So the query waits
  // for the view to settle, at most half its time, and names the sites still unheard then.
  void start_when_settled(std::string id, std::string body, dht::millis deadline, dht::millis wait_until,
                          dht::query_fanout::on_hits progress) {
    if (stopped) return;
    auto unheard = unheard_sites();
    if (!unheard.empty() && clock.now() < wait_until) {
      auto wait = std::make_shared<asio::steady_timer>(strand, tick_period);
      wait->async_wait([self = shared_from_this(), wait, id = std::move(id), body = std::move(body), deadline, wait_until,
                        progress = std::move(progress)](boost::system::error_code ec) mutable {
        if (!ec) self->start_when_settled(std::move(id), std::move(body), deadline, wait_until, std::move(progress));
      });
      return;
    }
    if (!unheard.empty()) {
      spdlog::warn("event=query_view_unsettled query={} unheard_sites={}", id.substr(0, 64), unheard.size());
      progress = [unheard = std::move(unheard), progress = std::move(progress)](const std::vector<dht::query_hit>& hits,
                                                                                const dht::query_progress& p) {
        auto named = p;
        named.unheard_sites = unheard;
        progress(hits, named);
      };
    }
    auto timeout = std::max(deadline - clock.now(), dht::millis{0});
    auto live = membership->live_sites();
    if (live.size() < tree_fanout_min_sites) return queries->start(id, body, timeout, std::move(progress));
    spdlog::info("event=query_tree query={} live_sites={}", id.substr(0, 64), live.size());
    tree->start(id, body, timeout,
                [live = std::move(live), progress = std::move(progress), id](const std::vector<dht::query_hit>& hits,
                                                                             const dht::tree_progress& p) {
                  spdlog::info("event=tree_query_done query={} hits={} reached={} uncovered={} second_pass={} "
                               "second_uncovered={}",
                               id.substr(0, 64), hits.size(), p.reached, p.uncovered.size(), p.second_pass,
                               p.second_uncovered.size());
                  progress(hits, dht::progress_of(p, live));
                });
  }

  // Builds membership and engine once this site has a roster entry; rebuilds the site list on
  // roster changes.
  void update_membership() {
    if (!roster_dirty) return membership->refresh();
    auto self = members.self();
    auto roster = members.current();
    if (!self || !roster) return;
    if (!engine) {
      self_site = self->site_id;
      keys = make_key_source(self_site, members);
      if (auto s = keys->load(db); !s) spdlog::error("event=owned_keys_unreadable reason=\"{}\"", s.err().message);
      membership = std::make_unique<dht::overlay_membership>(overlay, self_site, liveness_age);
      engine = std::make_unique<dht::replicator>(
          self_site, settings, dht::replicator_collaborators{&clock, &transport, membership.get(), store.get(), keys.get(),
                                                         keyring ? &*keyring : nullptr});
      for (const auto& [key_id, n] : keys->keys()) engine->own_key(key_id, n);
      start_queries();
    }
    membership->set_sites(dht::sites_from_roster(*roster, static_cast<std::int64_t>(std::time(nullptr))));
    membership->refresh();
    roster_dirty = false;
  }

  // The fan-out shares the replicator's membership view, transport and replica store.
  void start_queries() {
    signer = std::make_unique<query_signer>(self_site, dht_key_pem, [this](std::string_view site) -> result<std::string> {
      auto member = members.member_by_id(site);
      if (!member) return std::move(member).err();
      return member->dht_public_key;
    });
    dht::fanout_settings fs;
    fs.max_body_bytes = query_limits::max_body_bytes;
    fs.replicas = settings.k;  // at most k hedged sites count as covered
    dht::replicator_collaborators shared{&clock, &transport, membership.get(), store.get(), nullptr};
    auto planner = [this](const std::string& body) { return plan_query(body, *stage_one, *store); };
    queries = std::make_unique<dht::query_fanout>(self_site, fs, shared, *signer, planner);
    dht::tree_settings ts;
    ts.max_body_bytes = query_limits::max_body_bytes;
    tree = std::make_unique<dht::tree_fanout>(self_site, ts, shared, *signer, planner);
    tree_started = clock.now();  // its view settles later (refresh_membership)
    // An empty store is a new site or a wiped disk: until anti-entropy has had a few rounds to give
    // this site's own records back, its answers ask the querier to ask their holders too.
    if (store->record_count() == 0) {
      auto until = clock.now() + dht::restoring_rounds * settings.repair_period;
      queries->restoring_until(until);
      tree->restoring_until(until);
    }
    if (answer_observer) {
      auto observe = [this](const std::string& querier, const std::string& id, std::size_t hits) {
        asio::post(pool, [observe = answer_observer, querier, id, hits] { observe(querier, id, hits); });
      };
      queries->set_answer_observer(observe);
      tree->set_answer_observer(observe);
    }
  }

  void tick() {
    if (stopped) return;
    refresh_membership();
    if (engine) engine->tick();
    if (queries) queries->tick();
    if (tree) tree->tick();
    timer.expires_after(tick_period);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->tick();
    });
  }

  // The owner's write on the service strand: `change` turns the stored record (its latest owned
  // version, or a new one carrying only the LFN) into the next; the version is raised, the record
  // signed, stored with `audit` and `with` in one commit and pushed to its holders.
  // With `must_exist`, a record this site does not own yet is not_found.
  result<storage::index_record> write_owned(const std::string& lfn, const record_change& change, bool must_exist,
                                            storage::audit_event audit, storage::transaction with,
                                            std::optional<dht::owned_key> key) {
    refresh_membership();
    if (!engine) return fail(errc::unavailable, "this site is not on the roster");
    auto stored = store->get_record(lfn);
    if (must_exist && (!stored || stored->owner != self_site))
      return fail(errc::not_found, "this site owns no record with that lfn");
    // A copy held for another owner is not ours to supersede (LFNs are random: this is a
    // client error, not a collision).
    if (stored && stored->owner != self_site)
      return fail(errc::conflict, "this lfn belongs to site " + stored->owner);
    storage::index_record r;
    if (stored) {
      auto decoded = dht::decode_replica(*stored);
      if (!decoded) return std::move(decoded).err();
      r = std::move(*decoded);
    } else {
      r.lfn = *crypto::from_hex(lfn);
    }
    if (auto s = change(r, with); !s) return std::move(s).err();
    r.version = stored ? stored->version + 1 : 1;
    r.owner_site = self_site;
    if (auto s = storage::validate(r); !s) return std::move(s).err();
    if (auto s = sign_record(r, dht_key_pem); !s) return std::move(s).err();
    auto replica = dht::replica_of(r);
    if (replica.payload.size() > settings.max_payload_bytes)
      return fail(errc::too_large, "the record is over " + std::to_string(settings.max_payload_bytes) +
                                       " bytes: its replica holders would refuse it");
    if (key) dht::put_owned_key(with, *key);
    auto put = store->put_owned(replica, std::move(audit), std::move(with));
    if (!put) return std::move(put).err();
    if (!*put) return fail(errc::conflict, "the replica store refused the record (is this site's DHT key the roster's?)");
    engine->publish(replica);  // stores nothing new (already there), pushes to the holders
    if (key) {
      auto n = key->count;
      auto id = key->key_id;
      keys->add(std::move(*key));
      engine->own_key(id, n);
    }
    return r;
  }

  // Runs `fn` on the strand and waits for its result (callers are never on the strand).
  template <class Fn>
  auto on_strand(Fn fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(strand, [&task] { task(); });
    return result.get();
  }
};

result<std::unique_ptr<overlay_service>> overlay_service::create(dht::overlay& o, const consortium& members,
                                                                 const site_identity& identity,
                                                                 storage::database& db,
                                                                 dht::replication_settings settings,
                                                                 std::chrono::milliseconds liveness_age,
                                                                 std::size_t tree_fanout_min_sites) {
  auto store = dht::storage_replica_store::open(db, roster_verifier(members));
  if (!store) return std::move(store).err();
  // Stage 1's index of the stored records, then kept in step by the store.
  auto started = std::chrono::steady_clock::now();
  auto index = std::make_unique<stage_one::stage_one_index>();
  if (auto s = index->build(db); !s) return std::move(s).err();
  (*store)->set_listener(index.get());
  spdlog::info("event=stage_one_index_built records={} ms={}", index->size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  // Stored keys that do not load are found at start, not when the engine first needs them.
  if (auto s = make_key_source({}, members)->load(db); !s) return std::move(s).err();
  auto p = std::make_shared<impl>(o, members, identity, std::move(index), std::move(*store), db, settings, liveness_age,
                                  tree_fanout_min_sites);
  return std::unique_ptr<overlay_service>(new overlay_service(std::move(p)));
}

overlay_service::overlay_service(std::shared_ptr<impl> p) : impl_(std::move(p)) {
  impl_->runner = std::thread([raw = impl_.get()] { raw->strand.run(); });
}

overlay_service::~overlay_service() { stop(); }

void overlay_service::set_answer_observer(dht::answer_observer observer) {
  impl_->on_strand([self = impl_, o = std::move(observer)]() mutable { self->answer_observer = std::move(o); });
}

void overlay_service::start() {
  asio::post(impl_->strand, [self = impl_] {
    self->refresh_membership();
    if (self->engine) self->engine->start_round();
    self->tick();
  });
}

void overlay_service::stop() {
  if (!impl_->runner.joinable()) return;
  asio::post(impl_->strand, [self = impl_] {
    self->stopped = true;
    self->timer.cancel();
  });
  impl_->work.reset();
  impl_->runner.join();
  impl_->pool.join();
}

void overlay_service::roster_changed() {
  asio::post(impl_->strand, [self = impl_] { self->roster_dirty = true; });
}

void overlay_service::deliver(const std::string& from_site, dht::message message, std::size_t wire_bytes) {
  if (is_query_message(message)) {
    ++impl_->traffic.messages_received;
    impl_->traffic.bytes_received += wire_bytes;
  }
  asio::post(impl_->strand, [self = impl_, from_site, m = std::move(message)] {
    bool query = std::holds_alternative<dht::query_request>(m) || std::holds_alternative<dht::query_answer>(m);
    bool tree = std::holds_alternative<dht::subtree_request>(m) || std::holds_alternative<dht::subtree_answer>(m);
    if (query && self->queries) {
      self->queries->on_message(from_site, m);
    } else if (tree && self->tree) {
      // A forwarder splits its part by its view: the latest one, not the last tick's.
      if (std::holds_alternative<dht::subtree_request>(m)) self->refresh_membership();
      self->tree->on_message(from_site, m);
    } else if (!query && !tree && self->engine) {
      self->engine->on_message(from_site, m);
    }
  });
}

result<storage::index_record> overlay_service::publish(storage::index_record record, storage::audit_event audit,
                                                       storage::transaction with, std::optional<dht::owned_key> key) {
  if (record.lfn.size() != storage::lfn_size) return fail(errc::malformed_input, "index record: lfn is not 16 bytes");
  auto lfn = crypto::to_hex(record.lfn);
  // The new attributes and signature replace the stored ones; the diagnoses stay (only amend
  // changes them: a re-ingested series keeps what physicians recorded for it).
  record_change replace = [r = std::move(record)](storage::index_record& stored, storage::transaction&) {
    auto diagnoses = std::move(stored.diagnoses);
    stored = r;
    stored.diagnoses = std::move(diagnoses);
    return status{};
  };
  return impl_->on_strand([self = impl_, lfn, &replace, a = std::move(audit), w = std::move(with),
                           k = std::move(key)]() mutable -> result<storage::index_record> {
    return self->write_owned(lfn, replace, false, std::move(a), std::move(w), std::move(k));
  });
}

result<storage::index_record> overlay_service::amend(const std::string& lfn, const record_change& change,
                                                     storage::audit_event audit) {
  return impl_->on_strand([self = impl_, &lfn, &change, a = std::move(audit)]() mutable -> result<storage::index_record> {
    return self->write_owned(lfn, change, true, std::move(a), {}, std::nullopt);
  });
}

status overlay_service::start_query(const std::string& query_id, const std::string& body,
                                    std::chrono::milliseconds timeout, dht::query_fanout::on_hits progress) {
  return impl_->on_strand([self = impl_, &query_id, &body, timeout, &progress]() -> status {
    self->refresh_membership();
    if (!self->queries) return fail(errc::unavailable, "this site is not on the roster");
    auto now = self->clock.now();
    self->start_when_settled(query_id, body, now + timeout, now + timeout / 2, std::move(progress));
    return {};
  });
}

std::uint64_t overlay_service::owned_version(const std::string& lfn) {
  return impl_->on_strand([self = impl_, lfn]() -> std::uint64_t {
    self->refresh_membership();  // before start(), this site's id may not be known yet
    auto stored = self->store->get_record(lfn);
    return stored && stored->owner == self->self_site ? stored->version : 0;
  });
}

std::optional<dht::owned_key> overlay_service::owned_key(const std::string& key_id) {
  return impl_->on_strand([self = impl_, key_id]() -> std::optional<dht::owned_key> {
    self->refresh_membership();
    return self->keys ? self->keys->find(key_id) : std::nullopt;
  });
}

std::vector<dht::key_share> overlay_service::held_shares(const std::string& key_id) {
  return impl_->on_strand([self = impl_, key_id] {
    self->refresh_membership();
    std::vector<dht::key_share> out;
    self->store->for_each_share([&](const dht::key_share& s) {
      if (s.key_id == key_id && s.holder == self->self_site) out.push_back(s);
    });
    return out;
  });
}

std::optional<dht::record> overlay_service::find(const std::string& lfn) {
  // get_record reads only the database (storage_replica_store.hpp): no hop to the strand, whose
  // future costs two thread switches per audited read and waits behind replication work.
  return impl_->store->get_record(lfn);
}

std::vector<dht::record> overlay_service::held_records(const std::string& after, std::size_t limit) {
  return impl_->on_strand([self = impl_, after, limit] {
    std::map<std::string, dht::record> page;  // the `limit` smallest LFNs after `after`
    self->store->for_each_record([&](const dht::record& r) {
      if (r.lfn <= after || (page.size() == limit && r.lfn >= page.rbegin()->first)) return;
      page[r.lfn] = {r.lfn, r.version, r.owner, {}};
      if (page.size() > limit) page.erase(std::prev(page.end()));
    });
    std::vector<dht::record> out;
    for (auto& [lfn, r] : page) out.push_back(std::move(r));
    return out;
  });
}

dht::overlay_status_report overlay_service::report() {
  return impl_->on_strand([self = impl_] {
    // The membership may use a longer liveness age than configured (3 probe cycles at least).
    auto age = self->membership ? self->membership->liveness_age() : self->liveness_age;
    auto r = dht::overlay_status(&self->overlay, self->membership.get(), self->engine.get(), self->store.get(),
                                 self->members.version(), age);
    auto owned = self->keys ? self->keys->keys() : std::vector<std::pair<std::string, std::uint32_t>>{};
    r.keys_owned = owned.size();
    r.query_messages_sent = self->traffic.messages_sent;
    r.query_bytes_sent = self->traffic.bytes_sent;
    r.query_messages_received = self->traffic.messages_received;
    r.query_bytes_received = self->traffic.bytes_received;
    if (self->tree) {
      r.tree_hop_ms = self->tree->current_hop().count();
      r.tree_buckets_resent = self->tree->resent();
    }
    // Say what cannot be placed rather than fail: a consortium of one owns records and keys
    // that simply have nowhere else to go.
    std::size_t sites = r.live_sites.empty() ? 1 : r.live_sites.size();
    if (self->engine && sites < self->settings.k + 1)
      r.placement_warnings.push_back(std::to_string(sites) + " live site(s): records get " + std::to_string(sites - 1) +
                                     " of their " + std::to_string(self->settings.k) + " replicas");
    std::uint32_t n = 0;
    for (const auto& [id, count] : owned) n = std::max(n, count);
    // Shares go to the owner's peers (the owner keeps the key itself).
    if (n > sites - 1)
      r.placement_warnings.push_back(std::to_string(sites - 1) + " live peer(s): keys split into " + std::to_string(n) +
                                     " shares cannot have them on " + std::to_string(n) + " distinct peers");
    return r;
  });
}

}  // namespace dm2::node
