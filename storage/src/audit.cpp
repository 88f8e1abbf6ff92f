#include "dm2/storage/audit.hpp"

#include "byte_io.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::storage {
namespace {

constexpr std::uint8_t audit_format = 1;

error bad(std::string_view field, std::string_view why) {
  return fail(errc::malformed_input, "audit entry: " + std::string(field) + " " + std::string(why));
}

status check(std::string_view field, std::string_view value, std::size_t limit) {
  if (value.size() > limit) return bad(field, "longer than " + std::to_string(limit) + " bytes");
  if (value.find('\0') != std::string_view::npos) return bad(field, "contains NUL");
  return {};
}

void write(detail::byte_writer& w, const audit_entry& e, bool with_signature) {
  w.u8(audit_format);
  w.u64(e.sequence);
  w.u64(static_cast<std::uint64_t>(e.event.time_ms));
  w.str16(e.event.actor);
  w.str16(e.event.action);
  w.str16(e.event.object);
  w.str16(e.event.decision);
  w.str16(e.event.detail);
  w.raw(e.previous_hash);
  if (with_signature) w.str16(e.signature);
}

}  // namespace

status validate(const audit_event& e) {
  if (auto s = check("actor", e.actor, audit_limits::field); !s) return s;
  if (auto s = check("action", e.action, audit_limits::field); !s) return s;
  if (auto s = check("object", e.object, audit_limits::field); !s) return s;
  if (auto s = check("decision", e.decision, audit_limits::field); !s) return s;
  if (auto s = check("detail", e.detail, audit_limits::detail); !s) return s;
  return {};
}

std::string encode_audit_entry(const audit_entry& e) {
  detail::byte_writer w;
  write(w, e, true);
  return std::move(w).take();
}

std::string signed_payload(const audit_entry& e) {
  detail::byte_writer w;
  w.raw("dm2 audit entry\n");
  write(w, e, false);
  return std::move(w).take();
}

result<audit_signer> ed25519_audit_signer(std::string private_key_pem) {
  auto type = crypto::private_key_type(private_key_pem);
  if (!type) return std::move(type).err();
  if (*type != crypto::key_type::ed25519) return fail(errc::unsupported, "audit signer needs an Ed25519 key");
  auto public_key = crypto::raw_public_key(private_key_pem);
  if (!public_key) return std::move(public_key).err();
  auto key = crypto::signing_key::from_pem(private_key_pem);  // parsed once, not per entry
  if (!key) return std::move(key).err();
  audit_signer signer;
  signer.sign = [key = std::move(*key)](std::string_view message) { return key.sign(message); };
  signer.verify = [pub = std::move(*public_key)](std::string_view message, std::string_view signature) {
    return crypto::verify(pub, message, signature);
  };
  return signer;
}

std::string chain_hash(const audit_entry& e) { return crypto::sha256(encode_audit_entry(e)); }

result<audit_entry> decode_audit_entry(std::string_view bytes) {
  detail::byte_reader in(bytes);
  auto format = in.be(1);
  if (!format || *format != audit_format) return bad("format", "is missing or unknown");
  audit_entry e;
  auto seq = in.be(8);
  auto time = in.be(8);
  if (!seq || !time) return bad("encoding", "is truncated");
  e.sequence = *seq;
  e.event.time_ms = static_cast<std::int64_t>(*time);
  std::string* fields[] = {&e.event.actor, &e.event.action, &e.event.object, &e.event.decision};
  for (auto* f : fields) {
    auto s = in.str(2, audit_limits::field);
    if (!s) return bad("field", "is truncated or over its limit");
    f->assign(*s);
  }
  auto detail_text = in.str(2, audit_limits::detail);
  auto prev = in.raw(audit_hash_size);
  auto sig = in.str(2, audit_limits::signature);
  if (!detail_text || !prev || !sig) return bad("encoding", "is truncated or over a limit");
  e.event.detail = *detail_text;
  e.previous_hash = *prev;
  e.signature = *sig;
  if (!in.at_end()) return bad("encoding", "has trailing bytes");
  if (auto s = validate(e.event); !s) return std::move(s).err();
  return e;
}

}  // namespace dm2::storage
