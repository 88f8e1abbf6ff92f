#include "dm2/dht/roster_sync.hpp"

#include <spdlog/spdlog.h>


#include "dm2/crypto/endpoint.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/dht/bep44.hpp"

namespace dm2::dht {

roster_admission admission_for(const crypto::roster& r, std::string_view consortium_public_key,
                               std::int64_t now) {
  roster_admission out;
  out.signing_keys.emplace_back(consortium_public_key);
  for (const auto& site : r.sites) {
    if (site.expires_at <= now) continue;
    auto peer = crypto::parse_endpoint(site.dht_endpoint);
    if (!peer) {
      spdlog::warn("event=roster_endpoint_skipped site={} reason=\"{}\"", site.site_id,
                   peer.err().message);
      continue;
    }
    out.peers.push_back(*peer);
    out.signing_keys.push_back(site.dht_public_key);
  }
  return out;
}

namespace {

struct announcement {
  std::string hash;
  std::int64_t seq = 0;
};

result<announcement> announcement_of(std::string_view document) {
  auto doc = crypto::decode_roster_document(document);
  if (!doc) return std::move(doc).err();
  auto hash = crypto::roster_hash(doc->body);
  if (!hash) return std::move(hash).err();
  return announcement{std::move(*hash), static_cast<std::int64_t>(doc->body.version)};
}

}  // namespace

result<std::string> roster_announcement_signature(std::string_view document,
                                                  std::string_view consortium_key_pem) {
  auto a = announcement_of(document);
  if (!a) return std::move(a).err();
  return bep44_signature(consortium_key_pem, roster_announce_salt, a->hash, a->seq);
}

namespace {

result<announcement> checked_announcement(std::string_view document,
                                          std::string_view consortium_public_key,
                                          std::string_view signature) {
  auto a = announcement_of(document);
  if (!a) return std::move(a).err();
  if (!verify_bep44_signature(consortium_public_key, roster_announce_salt, a->hash, a->seq, signature))
    return fail(errc::integrity_failure,
                "the announcement signature is not the consortium's for roster version " +
                    std::to_string(a->seq));
  return a;
}

}  // namespace

status verify_roster_announcement(std::string_view document, std::string_view consortium_public_key,
                                  std::string_view signature) {
  auto a = checked_announcement(document, consortium_public_key, signature);
  if (!a) return std::move(a).err();
  return {};
}

result<int> relay_roster_announcement(overlay& o, std::string_view document,
                                      std::string_view consortium_public_key,
                                      std::string_view signature) {
  auto a = checked_announcement(document, consortium_public_key, signature);
  if (!a) return std::move(a).err();
  return o.put_signed_mutable(consortium_public_key, roster_announce_salt, a->hash, a->seq, signature);
}

result<int> announce_roster(overlay& o, std::string_view document,
                            std::string_view consortium_key_pem) {
  auto signature = roster_announcement_signature(document, consortium_key_pem);
  if (!signature) return std::move(signature).err();
  auto pub = crypto::raw_public_key(consortium_key_pem);
  if (!pub) return std::move(pub).err();
  return relay_roster_announcement(o, document, *pub, *signature);
}

roster_sync::roster_sync(overlay& o, crypto::roster_state& state, roster_fetcher& fetcher,
                         std::string consortium_public_key, std::string self_site_id,
                         std::function<std::int64_t()> clock_seconds)
    : overlay_(o),
      state_(state),
      fetcher_(fetcher),
      consortium_key_(std::move(consortium_public_key)),
      self_(std::move(self_site_id)),
      now_(std::move(clock_seconds)) {}

status roster_sync::apply_current() {
  auto current = state_.current();
  if (!current) return {};
  auto a = admission_for(*current, consortium_key_, now_());
  return overlay_.set_roster(a.peers, a.signing_keys);
}

result<bool> roster_sync::refresh() {
  auto announced = overlay_.get_mutable(consortium_key_, roster_announce_salt);
  if (!announced) {
    if (announced.err().code == errc::not_found || announced.err().code == errc::timeout) return false;
    return std::move(announced).err();
  }
  if (announced->seq <= 0 || static_cast<std::uint64_t>(announced->seq) <= state_.version())
    return false;
  auto current = state_.current();
  if (!current) return fail(errc::unavailable, "no roster yet: nobody to fetch from");
  for (const auto& site : current->sites) {
    if (site.site_id == self_ || site.expires_at <= now_()) continue;
    auto document = fetcher_.fetch(site);
    if (!document) continue;
    auto candidate = crypto::verify_roster(*document, consortium_key_);
    if (!candidate) {
      spdlog::warn("event=roster_refused peer={} reason=\"{}\"", site.site_id,
                   candidate.err().message);
      continue;
    }
    auto hash = crypto::roster_hash(*candidate);
    // The document must be the announced one (a peer could serve an older valid roster).
    if (!hash || *hash != announced->value ||
        candidate->version != static_cast<std::uint64_t>(announced->seq))
      continue;
    auto adopted = state_.accept(*document);
    if (!adopted) {
      spdlog::warn("event=roster_refused peer={} reason=\"{}\"", site.site_id, adopted.err().message);
      continue;
    }
    if (auto st = apply_current(); !st) return std::move(st).err();
    spdlog::info("event=roster_adopted version={} from={}", candidate->version, site.site_id);
    if (on_adopted) on_adopted(*candidate);
    return true;
  }
  return fail(errc::unavailable, "no member served the announced roster version " +
                                     std::to_string(announced->seq));
}

}  // namespace dm2::dht
