#include "dm2/node/identity.hpp"

#include <spdlog/spdlog.h>
#include <ctime>

#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/consortium_admin.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/x509.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

namespace {

struct paths {
  fs::path identity_dir, ca_dir, ca_cert, site_key, site_cert, dht_key, seal_key, storage_key;
  fs::path dev_roster() const { return ca_dir / "roster.json"; }
};

paths layout(const node_config& c) {
  auto id = c.data_dir / "identity";
  paths p{id,           c.data_dir / "ca",  id / "ca.crt",   id / "site.key", id / "site.crt",
          id / "dht.key", id / "seal.key", id / "storage.key"};
  if (!c.certificate.empty()) {
    p.ca_cert = c.ca_certificate;
    p.site_cert = c.certificate;
    p.site_key = c.private_key;
  }
  return p;
}

status write_key(const fs::path& path, const result<std::string>& pem) {
  if (!pem) return pem.err();
  return crypto::write_private_file(path, *pem);
}

// First start. Development mode: a consortium of one (CA and roster key in <data_dir>/ca) issues
// this site's identity, exactly as `dm2 ca init` and `dm2 ca issue-site` would. With [tls] set,
// only the DHT and sealing keys are created beside the configured certificate.
status create_identity(const node_config& c, const paths& p) {
  if (c.certificate.empty()) {
    if (auto s = crypto::init_consortium(p.ca_dir, "dm2 development " + c.site_name); !s) return s;
    crypto::site_certificate_request request;
    request.site_name = c.site_name;
    request.ip_addresses = {c.https.address};
    request.dns_names = {"localhost"};
    auto issued = crypto::issue_site(p.ca_dir, request, p.identity_dir);
    if (!issued) return std::move(issued).err();
    return {};
  }
  std::error_code ec;
  fs::create_directories(p.identity_dir, ec);
  if (ec) return fail(errc::io_error, "cannot create " + p.identity_dir.string() + ": " + ec.message());
  fs::permissions(p.identity_dir, fs::perms::owner_all, ec);
  if (auto s = write_key(p.dht_key, crypto::generate_private_key(crypto::key_type::ed25519)); !s) return s;
  return write_key(p.seal_key, crypto::generate_private_key(crypto::key_type::x25519));
}

// The development consortium's roster lists this site alone, signed by the consortium key
// created beside it, so a lone node owns records and keys like any member (it simply has no
// peer to place replicas or shares on). Made on first start, and for a development data
// directory created before this roster existed. Port 0 (ephemeral) cannot be named in a roster:
// the embedded default ports stand in (nobody dials a consortium of one).
status ensure_dev_roster(const node_config& c, const paths& p) {
  std::error_code ec;
  if (fs::exists(p.dev_roster(), ec)) return {};
  auto named = [](const endpoint& e, std::uint16_t fallback) {
    return endpoint{e.address, e.port != 0 ? e.port : fallback}.to_string();
  };
  crypto::roster_entry_request entry;
  entry.site_dir = p.identity_dir;
  entry.https_endpoint = named(c.https, 8443);
  entry.dht_endpoint = named(c.dht, 6881);
  auto draft = p.ca_dir / "roster.draft.json";
  fs::remove(draft, ec);
  if (auto added = crypto::roster_add(draft, entry); !added) return std::move(added).err();
  auto signed_roster = crypto::roster_sign(draft, p.ca_dir, static_cast<std::int64_t>(std::time(nullptr)));
  if (!signed_roster) return std::move(signed_roster).err();
  fs::rename(draft, p.dev_roster(), ec);
  if (ec) return fail(errc::io_error, "cannot write " + p.dev_roster().string() + ": " + ec.message());
  spdlog::info("event=dev_roster_created file={}", p.dev_roster().string());
  return {};
}

}  // namespace

result<site_identity> load_or_create_identity(const node_config& c) {
  const paths p = layout(c);
  site_identity id;
  std::error_code ec;
  if (!fs::exists(p.identity_dir, ec)) {
    if (auto s = create_identity(c, p); !s) return std::move(s).err();
    id.created = true;
    spdlog::info("event=identity_created site={} dir={}", c.site_name, p.identity_dir.string());
  }
  // The storage key belongs to this node's database, not to the site's accreditation: an
  // identity issued elsewhere (`dm2 ca issue-site`) arrives without one.
  if (!fs::exists(p.storage_key, ec)) {
    if (auto s = crypto::write_private_file(p.storage_key, crypto::generate_aead_key()); !s)
      return std::move(s).err();
    spdlog::info("event=storage_key_created file={}", p.storage_key.string());
  }

  struct slot {
    const fs::path& path;
    std::string& out;
    bool secret;
  } slots[] = {{p.ca_cert, id.ca_certificate_pem, false}, {p.site_cert, id.certificate_pem, false},
               {p.site_key, id.private_key_pem, true},    {p.dht_key, id.dht_key_pem, true},
               {p.seal_key, id.sealing_key_pem, true},    {p.storage_key, id.storage_key, true}};
  for (auto& s : slots) {
    auto data = s.secret ? crypto::read_private_file(s.path) : crypto::read_file(s.path);
    if (!data) {
      auto e = std::move(data).err();
      if (e.code == errc::not_found) e.message = "incomplete site identity: " + e.message;
      return e;
    }
    s.out = std::move(*data);
  }
  if (id.storage_key.size() != crypto::aead_key_size)
    return fail(errc::integrity_failure, p.storage_key.string() + " is not a 32-byte key");

  if (auto s = crypto::check_key_matches_certificate(id.private_key_pem, id.certificate_pem); !s)
    return std::move(s).err();
  if (auto s = crypto::verify_site_certificate(id.certificate_pem, id.ca_certificate_pem); !s)
    return fail(errc::permission_denied, p.site_cert.string() + ": " + s.err().message);
  auto info = crypto::inspect_certificate(id.certificate_pem);
  if (!info) return std::move(info).err();
  id.certificate_fingerprint = info->sha256_fingerprint;
  auto days_left = (info->not_after - static_cast<std::int64_t>(std::time(nullptr))) / 86400;
  if (days_left < 30)
    spdlog::warn("event=certificate_expires_soon days_left={} file={}", days_left, p.site_cert.string());

  auto raw = crypto::raw_public_key(id.dht_key_pem);
  if (!raw) return std::move(raw).err();
  id.dht_public_key = std::move(*raw);

  if (c.certificate.empty() && fs::exists(p.ca_dir / "consortium.key", ec)) {
    if (auto s = ensure_dev_roster(c, p); !s) return std::move(s).err();
    auto key = crypto::read_consortium_public_key(p.ca_dir);
    if (!key) return std::move(key).err();
    id.dev_roster = p.dev_roster();
    id.dev_consortium_public_key = std::move(*key);
  }
  return id;
}

}  // namespace dm2::node
