#include "query_signer.hpp"

#include <spdlog/spdlog.h>

#include <bit>
#include <chrono>

#include "dm2/crypto/signature.hpp"

namespace dm2::node {
namespace {

constexpr std::size_t stamp_size = 8;

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift & 0xff);
}

void put_bytes(std::string& out, std::string_view s) {
  auto n = static_cast<std::uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(n >> shift & 0xff);
  out += s;
}

std::uint64_t get_u64(std::string_view in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < stamp_size; ++i) v = v << 8 | static_cast<std::uint8_t>(in[i]);
  return v;
}

std::string signed_bytes(std::string_view querier, const std::string& query_id, const std::string& body,
                         std::int64_t deadline_ms, std::int64_t issued_at) {
  std::string out("dm2-query-v1", 12);
  out += '\0';
  put_bytes(out, querier);
  put_bytes(out, query_id);
  put_bytes(out, body);
  put_u64(out, static_cast<std::uint64_t>(deadline_ms));
  put_u64(out, static_cast<std::uint64_t>(issued_at));
  return out;
}

std::string hit_bytes(std::string_view signer, const std::string& query_id, const dht::query_hit& h) {
  std::string out("dm2-hit-v1", 10);
  out += '\0';
  put_bytes(out, signer);
  put_bytes(out, query_id);
  put_bytes(out, h.lfn);
  put_bytes(out, h.owner);
  put_u64(out, std::bit_cast<std::uint64_t>(h.score));
  put_bytes(out, h.summary);
  return out;
}

}  // namespace

query_signer::query_signer(std::string self_site, std::string dht_key_pem, key_lookup keys,
                           query_signer_settings settings, wall_clock now)
    : self_(std::move(self_site)),
      keys_(std::move(keys)),
      now_(std::move(now)),
      replays_(settings) {
  if (auto k = crypto::signing_key::from_pem(dht_key_pem))
    key_.emplace(std::move(*k));
  else
    spdlog::error("event=query_key_unreadable reason=\"{}\"", k.err().message);
}

result<std::string> query_signer::sign_bytes(std::string_view message) const {
  if (!key_) return fail(errc::crypto_failure, "this site's DHT key did not load");
  return key_->sign(message);
}

std::int64_t query_signer::system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string query_signer::sign(const std::string& query_id, const std::string& body, std::int64_t deadline_ms) {
  auto issued_at = now_();
  auto sig = sign_bytes(signed_bytes(self_, query_id, body, deadline_ms, issued_at));
  if (!sig) {
    spdlog::error("event=query_sign_failed query={} reason=\"{}\"", query_id, sig.err().message);
    return {};
  }
  std::string out;
  put_u64(out, static_cast<std::uint64_t>(issued_at));
  return out + *sig;
}

std::string query_signer::sign_hit(const std::string& query_id, const dht::query_hit& hit) {
  auto sig = sign_bytes(hit_bytes(self_, query_id, hit));
  if (!sig) {
    spdlog::error("event=hit_sign_failed query={} reason=\"{}\"", query_id.substr(0, 64), sig.err().message);
    return {};
  }
  return *sig;
}

bool query_signer::verify_hit(const std::string& query_id, const dht::query_hit& hit) {
  auto key = keys_(hit.signer);
  bool ok = key && hit.signature.size() == crypto::ed25519_signature_size &&
            crypto::verify(*key, hit_bytes(hit.signer, query_id, hit), hit.signature);
  if (!ok) {
    ++refused_;
    spdlog::warn("event=hit_refused signer={} query={}", hit.signer.substr(0, 64), query_id.substr(0, 64));
  }
  return ok;
}

bool query_signer::refuse(const std::string& from, const dht::query_request& q, const char* reason) {
  ++refused_;
  spdlog::warn("event=query_refused peer={} query={} reason={}", from, q.query_id.substr(0, 64), reason);
  return false;
}

bool query_signer::verify(const std::string& from, const dht::query_request& q) {
  if (q.signature.size() != stamp_size + crypto::ed25519_signature_size) return refuse(from, q, "malformed_signature");
  auto issued_at = static_cast<std::int64_t>(get_u64(q.signature));
  auto key = keys_(from);
  if (!key) return refuse(from, q, "not_a_member");
  if (!crypto::verify(*key, signed_bytes(from, q.query_id, q.body, q.deadline_ms, issued_at),
                      std::string_view(q.signature).substr(stamp_size)))
    return refuse(from, q, "forged");
  if (auto why = replays_.admit(from, q.query_id, issued_at, now_())) return refuse(from, q, why);
  return true;
}

}  // namespace dm2::node
