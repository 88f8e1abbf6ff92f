#include "dm2/crypto/consortium_admin.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <limits>
#include <sstream>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::crypto {

namespace fs = std::filesystem;

namespace {

status make_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return fail(errc::conflict, dir.string() + " is not a directory");
    return {};
  }
  if (!fs::create_directories(dir, ec)) return fail(errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  return {};
}

status refuse_existing(const fs::path& dir, std::initializer_list<const char*> names) {
  std::error_code ec;
  for (const char* n : names)
    if (fs::exists(dir / n, ec)) return fail(errc::conflict, (dir / n).string() + " already exists");
  return {};
}

result<std::string> read_hex_key(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return std::move(text).err();
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
  auto raw = from_hex(t);
  if (!raw || raw->size() != 32)
    return fail(errc::malformed_input, path.string() + " does not hold a 64-digit hex public key");
  return raw;
}

std::string site_id_from(std::string_view cn) {
  std::string id;
  for (char c : cn) id += c == ' ' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

status save(const fs::path& path, const roster_document& d) {
  auto text = encode_roster_document(d);
  if (!text) return std::move(text).err();
  return write_public_file(path, *text);
}

std::string utc(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

status init_consortium(const fs::path& dir, std::string_view consortium_name, int valid_days) {
  if (auto s = refuse_existing(dir, {"ca.key", "ca.crt", "consortium.key", "consortium.pub"}); !s) return s;
  auto ca = create_ca(consortium_name, valid_days);
  if (!ca) return std::move(ca).err();
  auto signing = generate_private_key(key_type::ed25519);
  if (!signing) return std::move(signing).err();
  auto pub = raw_public_key(*signing);
  if (!pub) return std::move(pub).err();
  if (auto s = make_private_dir(dir); !s) return s;
  for (auto s : {write_private_file(dir / "ca.key", ca->key_pem),
                 write_private_file(dir / "consortium.key", *signing),
                 write_public_file(dir / "ca.crt", ca->certificate_pem),
                 write_public_file(dir / "consortium.pub", to_hex(*pub) + "\n")})
    if (!s) return s;
  return {};
}

result<std::string> read_consortium_public_key(const fs::path& ca_dir) {
  return read_hex_key(ca_dir / "consortium.pub");
}

result<issued_site> issue_site(const fs::path& ca_dir, const site_certificate_request& request,
                               const fs::path& out_dir) {
  key_and_certificate ca;
  auto key = read_private_file(ca_dir / "ca.key");
  if (!key) return std::move(key).err();
  auto cert = read_file(ca_dir / "ca.crt");
  if (!cert) return std::move(cert).err();
  ca.key_pem = std::move(*key);
  ca.certificate_pem = std::move(*cert);
  if (auto s = refuse_existing(out_dir, {"site.key", "site.crt", "dht.key", "seal.key", "dht.pub",
                                         "seal.pub", "ca.crt"});
      !s)
    return std::move(s).err();
  auto site = issue_site_certificate(ca, request);
  if (!site) return std::move(site).err();
  auto dht = generate_private_key(key_type::ed25519);
  auto seal = generate_private_key(key_type::x25519);
  if (!dht) return std::move(dht).err();
  if (!seal) return std::move(seal).err();
  issued_site out;
  auto info = inspect_certificate(site->certificate_pem);
  auto dht_pub = raw_public_key(*dht);
  auto seal_pub = raw_public_key(*seal);
  if (!info || !dht_pub || !seal_pub) return fail(errc::crypto_failure, "cannot read the new site keys");
  out.certificate_sha256 = info->sha256_fingerprint;
  out.dht_public_key = *dht_pub;
  out.sealing_public_key = *seal_pub;
  if (auto s = make_private_dir(out_dir); !s) return std::move(s).err();
  for (auto s : {write_private_file(out_dir / "site.key", site->key_pem),
                 write_private_file(out_dir / "dht.key", *dht),
                 write_private_file(out_dir / "seal.key", *seal),
                 write_public_file(out_dir / "site.crt", site->certificate_pem),
                 write_public_file(out_dir / "ca.crt", ca.certificate_pem),
                 write_public_file(out_dir / "dht.pub", to_hex(out.dht_public_key) + "\n"),
                 write_public_file(out_dir / "seal.pub", to_hex(out.sealing_public_key) + "\n")})
    if (!s) return std::move(s).err();
  return out;
}

result<site_entry> site_entry_from_dir(const roster_entry_request& request) {
  auto cert = read_file(request.site_dir / "site.crt");
  if (!cert) return std::move(cert).err();
  auto info = inspect_certificate(*cert);
  if (!info) return fail(errc::malformed_input, (request.site_dir / "site.crt").string() + ": " + info.err().message);
  auto dht = read_hex_key(request.site_dir / "dht.pub");
  if (!dht) return std::move(dht).err();
  auto seal = read_hex_key(request.site_dir / "seal.pub");
  if (!seal) return std::move(seal).err();
  site_entry e;
  e.site_id = request.site_id.empty() ? site_id_from(info->subject_common_name) : request.site_id;
  e.name = request.name.empty() ? info->subject_common_name : request.name;
  e.certificate_sha256 = info->sha256_fingerprint;
  e.dht_public_key = std::move(*dht);
  e.sealing_public_key = std::move(*seal);
  e.https_endpoint = request.https_endpoint;
  e.dht_endpoint = request.dht_endpoint;
  e.expires_at = request.expires_at != 0 ? request.expires_at : info->not_after;
  return e;
}

result<roster_document> load_roster_file(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return std::move(text).err();
  auto d = decode_roster_document(*text);
  if (!d) return fail(d.err().code, path.string() + ": " + d.err().message);
  return d;
}

result<site_entry> roster_add(const fs::path& roster_path, const roster_entry_request& request,
                              std::string_view consortium_name) {
  auto entry = site_entry_from_dir(request);
  if (!entry) return std::move(entry).err();
  roster_document d;
  std::error_code ec;
  if (fs::exists(roster_path, ec)) {
    auto loaded = load_roster_file(roster_path);
    if (!loaded) return std::move(loaded).err();
    d = std::move(*loaded);
  } else {
    std::string name(consortium_name);
    if (name.empty()) {
      auto info = inspect_certificate(*read_file(request.site_dir / "site.crt"));
      name = info ? info->issuer_common_name : "";
      if (name.size() > 3 && name.ends_with(" CA")) name.resize(name.size() - 3);
    }
    d.body.consortium = name;
  }
  for (const auto& e : d.body.sites) {
    if (e.site_id == entry->site_id)
      return fail(errc::conflict, "site '" + e.site_id + "' is already on the roster (remove it first)");
    if (e.certificate_sha256 == entry->certificate_sha256 || e.dht_public_key == entry->dht_public_key ||
        e.sealing_public_key == entry->sealing_public_key)
      return fail(errc::conflict, "site '" + e.site_id + "' already uses this certificate or key");
  }
  d.body.sites.push_back(*entry);
  d.signature.clear();
  if (auto s = save(roster_path, d); !s) return std::move(s).err();
  return entry;
}

status roster_remove(const fs::path& roster_path, std::string_view site_id) {
  auto d = load_roster_file(roster_path);
  if (!d) return std::move(d).err();
  auto& sites = d->body.sites;
  auto it = std::find_if(sites.begin(), sites.end(), [&](const site_entry& e) { return e.site_id == site_id; });
  if (it == sites.end()) return fail(errc::not_found, "site '" + std::string(site_id) + "' is not on the roster");
  sites.erase(it);
  d->signature.clear();
  return save(roster_path, *d);
}

result<roster> roster_sign(const fs::path& roster_path, const fs::path& ca_dir, std::int64_t now) {
  auto d = load_roster_file(roster_path);
  if (!d) return std::move(d).err();
  auto key = read_private_file(ca_dir / "consortium.key");
  if (!key) return std::move(key).err();
  auto ca_cert = read_file(ca_dir / "ca.crt");
  if (!ca_cert) return std::move(ca_cert).err();
  auto ca = inspect_certificate(*ca_cert);
  if (!ca) return std::move(ca).err();
  if (ca->subject_common_name != d->body.consortium + " CA")
    return fail(errc::invalid_argument, "the roster is for consortium '" + d->body.consortium +
                                            "' but the CA is '" + ca->subject_common_name + "'");
  roster r = d->body;
  if (r.version == std::numeric_limits<std::uint64_t>::max())
    return fail(errc::invalid_argument, "roster version cannot grow any further");
  r.version += 1;
  r.issued_at = now;
  auto doc = sign_roster(r, *key);
  if (!doc) return std::move(doc).err();
  if (auto s = write_public_file(roster_path, *doc); !s) return std::move(s).err();
  return r;
}

std::string describe_roster(const roster& r, bool signed_and_verified, std::int64_t now) {
  std::ostringstream out;
  out << "consortium: " << r.consortium << "\n"
      << "version:    " << r.version << (signed_and_verified ? " (signature verified)" : " (UNSIGNED draft)") << "\n"
      << "issued at:  " << (r.issued_at ? utc(r.issued_at) : "-") << "\n"
      << "hash:       " << (roster_hash(r) ? to_hex(*roster_hash(r)) : "-") << "\n"
      << "sites:      " << r.sites.size() << "\n";
  auto sorted = r.sites;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.site_id < b.site_id; });
  for (const auto& e : sorted) {
    out << "\n  " << e.site_id << "  " << e.name << (e.expires_at <= now ? "  [EXPIRED: revoked]" : "") << "\n"
        << "    certificate sha256: " << e.certificate_sha256 << "\n"
        << "    dht key:            " << to_hex(e.dht_public_key) << "\n"
        << "    sealing key:        " << to_hex(e.sealing_public_key) << "\n"
        << "    https:              " << e.https_endpoint << "\n"
        << "    dht:                " << e.dht_endpoint << "\n"
        << "    expires:            " << utc(e.expires_at) << "\n";
  }
  return out.str();
}

}  // namespace dm2::crypto
