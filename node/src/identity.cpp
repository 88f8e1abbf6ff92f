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
  return id;
}

}  // namespace dm2::node
