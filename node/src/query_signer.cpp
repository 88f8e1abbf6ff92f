#include "query_signer.hpp"

#include <spdlog/spdlog.h>

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

}  // namespace

query_signer::query_signer(std::string self_site, std::string dht_key_pem, key_lookup keys,
                           query_signer_settings settings, wall_clock now)
    : self_(std::move(self_site)),
      key_pem_(std::move(dht_key_pem)),
      keys_(std::move(keys)),
      now_(std::move(now)),
      replays_(settings) {}

std::int64_t query_signer::system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string query_signer::sign(const std::string& query_id, const std::string& body, std::int64_t deadline_ms) {
  auto issued_at = now_();
  auto sig = crypto::sign(key_pem_, signed_bytes(self_, query_id, body, deadline_ms, issued_at));
  if (!sig) {
    spdlog::error("event=query_sign_failed query={} reason=\"{}\"", query_id, sig.err().message);
    return {};
  }
  std::string out;
  put_u64(out, static_cast<std::uint64_t>(issued_at));
  return out + *sig;
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
