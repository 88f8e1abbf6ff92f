#include <mutex>
#include <shared_mutex>

#include "dm2/crypto/roster.hpp"

namespace dm2::crypto {

struct roster_state::impl {
  std::string consortium_key;
  mutable std::shared_mutex mutex;
  std::optional<roster> current;
  std::string document, hash;
};

roster_state::roster_state(std::string consortium_public_key) : impl_(std::make_unique<impl>()) {
  impl_->consortium_key = std::move(consortium_public_key);
}

roster_state::~roster_state() = default;

result<bool> roster_state::accept(std::string_view document) {
  auto r = verify_roster(document, impl_->consortium_key);
  if (!r) return std::move(r).err();
  if (r->version == 0) return fail(errc::invalid_argument, "a signed roster must have version >= 1");
  auto hash = roster_hash(*r);
  if (!hash) return std::move(hash).err();
  std::unique_lock lock(impl_->mutex);
  if (impl_->current) {
    const roster& cur = *impl_->current;
    if (r->consortium != cur.consortium)
      return fail(errc::conflict, "roster names consortium '" + r->consortium + "', expected '" +
                                      cur.consortium + "'");
    if (r->version < cur.version)
      return fail(errc::stale_version, "roster version " + std::to_string(r->version) +
                                           " is older than the current " + std::to_string(cur.version));
    if (r->version == cur.version) {
      if (*hash == impl_->hash) return false;
      return fail(errc::conflict, "two different rosters carry version " + std::to_string(r->version));
    }
  }
  impl_->current = std::move(*r);
  impl_->document.assign(document);
  impl_->hash = std::move(*hash);
  return true;
}

std::optional<roster> roster_state::current() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->current;
}

std::string roster_state::current_document() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->document;
}

std::uint64_t roster_state::version() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->current ? impl_->current->version : 0;
}

std::string roster_state::hash() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->hash;
}

namespace {
error no_roster() { return fail(errc::permission_denied, "no roster yet: every site is revoked"); }
}  // namespace

result<site_entry> roster_state::find_by_id(std::string_view site_id, std::int64_t now) const {
  std::shared_lock lock(impl_->mutex);
  if (!impl_->current) return no_roster();
  return find_site_by_id(*impl_->current, site_id, now);
}

result<site_entry> roster_state::find_by_fingerprint(std::string_view sha256_hex, std::int64_t now) const {
  std::shared_lock lock(impl_->mutex);
  if (!impl_->current) return no_roster();
  return find_site_by_fingerprint(*impl_->current, sha256_hex, now);
}

result<site_entry> roster_state::find_by_dht_key(std::string_view dht_public_key, std::int64_t now) const {
  std::shared_lock lock(impl_->mutex);
  if (!impl_->current) return no_roster();
  return find_site_by_dht_key(*impl_->current, dht_public_key, now);
}

status roster_state::verify_member_signature(std::string_view dht_public_key, std::string_view message,
                                             std::string_view signature, std::int64_t now) const {
  std::shared_lock lock(impl_->mutex);
  if (!impl_->current) return no_roster();
  return crypto::verify_member_signature(*impl_->current, dht_public_key, message, signature, now);
}

}  // namespace dm2::crypto
