#include "sealed_value.hpp"

#include "byte_io.hpp"
#include "dm2/crypto/aead.hpp"

namespace dm2::storage::detail {
namespace {

std::string associated_data(family f, std::string_view db_key, std::optional<std::uint64_t> version) {
  byte_writer w;
  w.raw("dm2 storage v1\n");
  w.str8(name_of(f));
  w.str32(db_key);
  if (version) w.u64(*version);
  return std::move(w).take();
}

error changed(family f) {
  return fail(errc::integrity_failure,
              "stored value in " + std::string(name_of(f)) + " does not authenticate (changed, moved or wrong key)");
}

}  // namespace

result<std::string> seal_value(std::string_view key, family f, std::string_view db_key,
                               std::string_view plaintext, std::optional<std::uint64_t> version) {
  auto sealed = crypto::aead_seal(key, plaintext, associated_data(f, db_key, version));
  if (!sealed) return std::move(sealed).err();
  std::string out(1, value_format);
  if (version) out += be64(*version);
  out += *sealed;
  return out;
}

result<std::uint64_t> sealed_version(std::string_view stored) {
  byte_reader in(stored);
  auto format = in.be(1);
  auto version = in.be(8);
  if (!format || *format != static_cast<unsigned char>(value_format) || !version)
    return fail(errc::integrity_failure, "stored record has no version prefix");
  return *version;
}

result<std::string> open_value(std::string_view key, family f, std::string_view db_key,
                               std::string_view stored, bool versioned) {
  if (stored.empty() || stored[0] != value_format) return changed(f);
  stored.remove_prefix(1);
  std::optional<std::uint64_t> version;
  if (versioned) {
    byte_reader in(stored);
    version = in.be(8);
    if (!version) return changed(f);
    stored.remove_prefix(8);
  }
  auto plain = crypto::aead_open(key, stored, associated_data(f, db_key, version));
  if (!plain) return changed(f);
  return std::move(*plain);
}

}  // namespace dm2::storage::detail
