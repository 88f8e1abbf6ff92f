// Retrieval (docs/api.md, "Series"; docs/security.md, "Retrieval"):
//   GET /v1/series/{lfn}         a user, at his home site: the de-identified series
//   GET /v1/series/{lfn}/sealed  the owning site serves its sealed files to another site
//   GET /v1/key-shares/{lfn}     a share holder releases its share(s) to another site
// The home site decides with the policy, signs one assertion for the request, and asks the
// owner for the ciphertext and every other site for key shares, all over mutual TLS; each of
// them verifies the assertion, decides with the same policy and audits under the user's
// pseudonym. The home site combines t shares and streams the answer, each file opened in memory
// as its turn comes (series_answer): read from disk, or, from another owner, as its bundle
// arrives (owner_bundle); the key is never written anywhere.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <future>
#include <nlohmann/json.hpp>

#include "../ingest/object_store.hpp"
#include "../retrieval/leased_source.hpp"
#include "../retrieval/owner_bundle.hpp"
#include "../retrieval/series_answer.hpp"
#include "../retrieval/series_bundle.hpp"
#include "../retrieval/share_release.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "routes.hpp"
#include "series_retrieval.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

http_response refused(const route_context& c, const access::principal& who,
                      const std::string& action, const std::string& lfn, const std::string& reason,
                      const std::string& message) {
  (void)c.audit->append({0, who.actor(), action, lfn, "refused: " + reason, ""});
  return error_response(fail(errc::permission_denied, message));
}

// The sealed series from its owner: listed here when this site owns it (each file read when
// its turn comes, an evicted one's as its re-assembly seals it), else read from the owner as it
// arrives (stream_from_owner).
struct owner_series {
  std::uint64_t version = 0;
  std::vector<sealed_file> files;
  // This site's own files stay on disk while it lives; another owner's reading stops when it goes.
  std::shared_ptr<const void> lease;
};

// At most this many bytes of another owner's series wait at the home site for the user's answer
// (about 8 CT instances), plus the piece being handed over.
constexpr std::size_t owner_bytes_ahead = 4 << 20;

// Another owner's sealed files, read on a thread of their own (c.jobs) with the HTTPS client's
// streamed mode: returns once the owner's status, version and directory are known; the files'
// bytes follow through a bounded hand-off while the user's answer is sent. Each step of the
// reading waits at most the request timeout, and so does the hand-off for a user who stopped
// reading: the job always ends by itself.
result<owner_series> stream_from_owner(const route_context& c, const std::string& owner, const std::string& lfn,
                                       const std::string& wire, series_form form) {
  auto unreachable = [&](const std::string& why) {
    spdlog::warn("event=series_owner_unreachable lfn={} owner={} reason=\"{}\"", lfn, owner, why);
    return fail(errc::unavailable, "images stay at their hospital; owner unreachable (" + owner +
                                       "): the index still answers, the images return with their owner");
  };
  auto link = c.link_to(owner, wire);
  if (!link) return unreachable(link.err().message);
  auto handoff = std::make_shared<sealed_handoff>(owner_bytes_ahead, c.config->request_timeout);
  auto reading = std::make_shared<owner_bundle>(form, handoff);
  auto path = "/v1/series/" + lfn + "/sealed?format=" + (form == series_form::nifti ? "nifti" : "dicom");
  bool started = c.jobs->run([link = std::move(*link), reading, path, lfn, owner, timeout = c.config->request_timeout] {
    https_connection connection(link.target, link.tls);
    auto answered = connection.request_streamed(
        "GET", path,
        [&](const client_response& head, std::string_view piece) -> status {
          if (auto s = link.check(head); !s) return s;
          return reading->take(head, piece);
        },
        timeout, link.headers);
    if (answered)
      if (auto s = link.check(*answered); !s) answered = std::move(s).err();
    if (auto cut = reading->finish(answered); !cut)
      spdlog::warn("event=series_owner_stream_failed lfn={} owner={} reason=\"{}\"", lfn, owner, cut.err().message);
  });
  if (!started) return unreachable("the node is stopping");
  auto listed = reading->listing();
  // A bundle the owner got wrong is no fault of the user's request: 503, the owner named.
  if (!listed)
    return listed.err().code == errc::unavailable
               ? unreachable(listed.err().message)
               : fail(errc::unavailable, "the owner " + owner + " sent a bad series: " + listed.err().message);
  if (listed->head.status != 200) return peer_error(listed->head, "the owner " + owner);
  auto version = listed->head.headers.find("dm2-series-version");
  std::uint64_t v = 0;
  if (version == listed->head.headers.end() ||
      std::from_chars(version->second.data(), version->second.data() + version->second.size(), v)
              .ec != std::errc{} ||
      v == 0)
    return fail(errc::malformed_input, "the owner's answer names no series version");
  // The reading stops (at its next piece) once the user's answer, or this, is dropped.
  owner_series out{v, {}, std::shared_ptr<const void>(nullptr, [handoff](const void*) { handoff->abandon(); })};
  for (auto& f : listed->files) out.files.push_back({std::move(f.name), f.size, {}, {}, handoff});
  return out;
}

result<owner_series> sealed_from_owner(const route_context& c, const std::string& owner, const std::string& lfn,
                                       const std::string& wire, series_form form) {
  if (owner != c.self_site()) return stream_from_owner(c, owner, lfn, wire, form);
  auto stored = c.ingest->reading(lfn);
  if (!stored) return std::move(stored).err();
  owner_series out{stored->version, {}, std::move(stored->lease)};
  for (auto& f : stored->files)
    if (in_form(f.name, form)) out.files.push_back({std::move(f.name), f.size, std::move(f.path), std::move(f.open_when_sealed), {}});
  return out;
}

// The shares this site itself holds of `lfn` (opened with its seal key), and the owner's own
// share when it owns the key. Raw shares; the caller wipes them.
std::vector<std::string> own_shares(const route_context& c, const std::string& lfn) {
  std::vector<std::string> raw;
  auto keyring = dht::x25519_keyring::from_private_key(c.identity->sealing_key_pem);
  if (keyring)
    for (const auto& s : c.overlay->held_shares(lfn))
      if (auto opened = keyring->open(s)) raw.push_back(std::move(*opened));
  if (auto k = c.overlay->owned_key(lfn))
    if (auto s = owner_share(*k)) raw.push_back(std::move(*s));
  return raw;
}

// The shares every other roster member releases for this request (asked in parallel).
std::vector<std::string> peer_shares(const route_context& c, const std::string& lfn,
                                     const std::string& wire, const std::string& nonce) {
  std::vector<std::future<std::vector<std::string>>> asked;
  for (const auto& peer : c.members->peers())
    asked.push_back(std::async(std::launch::async, [&c, site = peer.site_id, &lfn, &wire, &nonce] {
      std::vector<std::string> raw;
      auto r = c.ask_peer(site, "/v1/key-shares/" + lfn, wire);
      if (!r || r->status != 200) {
        spdlog::info("event=key_share_not_released lfn={} holder={} reason=\"{}\"", lfn, site,
                     r ? std::to_string(r->status) : r.err().message);
        return raw;
      }
      auto j = json::parse(r->body, nullptr, false);
      if (!j.is_object() || !j["shares"].is_array()) return raw;
      for (const auto& s : j["shares"]) {
        if (!s.is_string()) continue;
        auto sealed = crypto::from_base64(s.get<std::string>());
        if (!sealed) continue;
        if (auto opened = open_release(c.identity->sealing_key_pem, *sealed, lfn, nonce))
          raw.push_back(std::move(*opened));
      }
      return raw;
    }));
  std::vector<std::string> all;
  for (auto& f : asked)
    for (auto& s : f.get()) all.push_back(std::move(s));
  return all;
}

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

void wipe(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

}  // namespace

std::string owner_of(const route_context& c, const std::string& lfn) {
  if (auto copy = c.overlay->find(lfn))
    if (auto decoded = dht::decode_replica(*copy)) return decoded->owner_site;
  return {};
}

error peer_error(const client_response& r, const std::string& who) {
  auto j = json::parse(r.body, nullptr, false);
  std::string message =
      j.is_object() && j["error"].is_object() ? j["error"].value("message", "") : "";
  auto code = r.status == 400   ? errc::invalid_argument
              : r.status == 403 ? errc::permission_denied
              : r.status == 404 ? errc::not_found
                                : errc::unavailable;
  return error{code, who + " answered " + std::to_string(r.status) +
                         (message.empty() ? "" : ": " + message)};
}

result<std::string> retrieval_assertion(const route_context& c, const access::principal& who,
                                        const access::facts& f, const std::string& lfn,
                                        const std::string& nonce, std::vector<access::data_class> classes) {
  access::assertion a;
  a.site = c.self_site();
  a.user = who.id;
  a.who = who.who;
  a.why = f.why;
  a.basis = f.self ? access::basis_own_record : f.care_team ? access::basis_care_team : "";
  if (f.grant) {
    auto g = c.access->grants().covering(who.id, lfn, access::data_class::deidentified_image,
                                         c.access->now_s());
    if (g && g->has_value()) a.grant = (*g)->id;
  }
  a.lfns = {lfn};
  a.classes = std::move(classes);
  a.nonce = nonce;
  return access::sign_assertion(std::move(a), c.identity->dht_key_pem, c.access->now_ms());
}

http_response retrieve_series(const route_context& c, const http_request& request, const std::string& lfn,
                              series_form form) {
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  if (who.asserted)
    return refused(c, who, "series_get", lfn, "not_home_site",
                   "a series is retrieved through the user's home site");
  auto owner = owner_of(c, lfn);
  if (owner.empty())
    return error_response(fail(errc::not_found, "no index record for that LFN here"));
  auto image =
      c.facts_for(who, access::data_class::deidentified_image, access::action::read, lfn, owner);
  if (auto no = c.authorize(who, image, "series_get", lfn)) return *no;
  auto share = c.facts_for(who, access::data_class::key_share, access::action::read, lfn, owner);
  if (auto no = c.authorize(who, share, "key_share_get", lfn)) return *no;

  auto started = std::chrono::steady_clock::now();
  auto nonce = crypto::to_hex(crypto::random_bytes(16));
  const std::vector classes{access::data_class::deidentified_image, access::data_class::key_share};
  auto wire = retrieval_assertion(c, who, image, lfn, nonce, classes);
  if (!wire) return error_response(wire.err());
  // The owner is also asked for its share: its sealed leg gets an assertion of its own, since
  // an assertion is accepted once per site (replay_guard).
  auto owner_wire = owner == c.self_site() ? wire
                                           : retrieval_assertion(c, who, image, lfn, crypto::to_hex(crypto::random_bytes(16)), classes);
  if (!owner_wire) return error_response(owner_wire.err());
  auto sealed =
      std::async(std::launch::async, [&] { return sealed_from_owner(c, owner, lfn, *owner_wire, form); });
  auto raw = own_shares(c, lfn);
  for (auto& s : peer_shares(c, lfn, *wire, nonce)) raw.push_back(std::move(s));
  auto key = combine_gathered(raw);
  auto key_ms = elapsed_ms(started);
  for (auto& s : raw) wipe(s);
  auto files = sealed.get();
  // The owner unreachable says why first: its holders cannot vouch for its grants either.
  if (!files) {
    if (key) wipe(*key);
    return error_response(files.err());
  }
  if (!key) {
    spdlog::warn("event=series_key_unavailable lfn={} reason=\"{}\"", lfn, key.err().message);
    return error_response(key.err());
  }

  auto version = files->version;
  auto answer = series_answer::open(std::move(*key), lfn, version, std::move(files->files), form,
                                    [lfn, version, key_ms, started](std::size_t count, std::uint64_t bytes) {
                                      spdlog::info("event=series_retrieved lfn={} version={} files={} bytes={} key_ms={} answer_ms={}",
                                                   lfn, version, count, bytes, key_ms, elapsed_ms(started));
                                    });
  if (!answer) return error_response(answer.err());
  http_response r{200, (*answer)->content_type(), {{"DM2-Series-Version", std::to_string(version)}}, {}};
  if (form != series_form::nifti) r.headers.emplace("DM2-Parts", std::to_string((*answer)->parts()));
  r.streamed = std::make_shared<leased_source>(std::move(*answer), std::move(files->lease));
  return r;
}

namespace {

// The form `?format=` asks for: dicom (the default) or nifti. Errors: invalid_argument.
result<series_form> form_asked(const http_request& request) {
  auto format = query_of(request.target)["format"];
  if (!format.empty() && format != "dicom" && format != "nifti")
    return fail(errc::invalid_argument, "format is dicom (multipart/related) or nifti");
  return format == "nifti" ? series_form::nifti : series_form::dicom;
}

http_response retrieve(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, "/v1/series/");
  if (lfn.empty())
    return error_response(fail(errc::invalid_argument, "give /v1/series/<32 hex digits>"));
  auto form = form_asked(request);
  if (!form) return error_response(form.err());
  return retrieve_series(c, request, lfn, *form);
}

// The owner's side: another site's user, under his site's assertion, gets the sealed files of
// the form his home site asks for (the instances, or the volume).
http_response serve_sealed(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, "/v1/series/", "/sealed");
  if (lfn.empty())
    return error_response(fail(errc::invalid_argument, "give /v1/series/<32 hex digits>/sealed"));
  auto form = form_asked(request);
  if (!form) return error_response(form.err());
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  if (!who.asserted)
    return refused(c, who, "series_serve", lfn, "no_assertion",
                   "sealed series go to another site, against its user's signed assertion");
  if (c.overlay->owned_version(lfn) == 0)
    return error_response(fail(errc::not_found, "this site does not own that series"));
  auto f = c.facts_for(who, access::data_class::deidentified_image, access::action::read, lfn,
                       c.self_site());
  if (auto no = c.authorize(who, f, "series_serve", lfn)) return *no;
  auto stored = c.ingest->reading(lfn);
  if (!stored) return error_response(stored.err());
  std::erase_if(stored->files, [&](const object_store::stored_file& file) { return !in_form(file.name, *form); });
  http_response r{200,
                  "application/vnd.dm2.sealed-series",
                  {{"DM2-Series-Version", std::to_string(stored->version)}},
                  {}};
  r.streamed = std::make_shared<leased_source>(std::make_shared<bundle_stream>(std::move(stored->files)),
                                               std::move(stored->lease));
  return r;
}

// A holder's side: the shares it holds (and the owner's own), sealed to the asserting site for
// this request only.
http_response release_shares(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, "/v1/key-shares/");
  if (lfn.empty())
    return error_response(fail(errc::invalid_argument, "give /v1/key-shares/<32 hex digits>"));
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  if (!who.asserted)
    return refused(c, who, "key_share_release", lfn, "no_assertion",
                   "key shares go to another site, against its user's signed assertion");
  auto owner = owner_of(c, lfn);
  auto held = c.overlay->held_shares(lfn);
  if (owner.empty() && !held.empty()) owner = held.front().owner;
  auto f = c.facts_for(who, access::data_class::key_share, access::action::read, lfn, owner);
  if (auto no = c.authorize(who, f, "key_share_release", lfn)) return *no;
  auto to = c.members->member_by_id(who.home_site);
  if (!to) return error_response(to.err());
  auto raw = own_shares(c, lfn);
  if (raw.empty())
    return error_response(fail(errc::not_found, "this site holds no share of that key"));
  json shares = json::array();
  for (auto& s : raw) {
    auto sealed = seal_release(to->sealing_public_key, s, lfn, who.asserted->nonce);
    wipe(s);
    if (!sealed) return error_response(sealed.err());
    shares.push_back(crypto::to_base64(*sealed));
  }
  return http_response{200, "application/json", {}, json{{"lfn", lfn}, {"shares", shares}}.dump()};
}

}  // namespace

void add_series_routes(router& routes, const route_context& c) {
  routes.add_prefix("GET", "/v1/series/", [c](const http_request& r) { return retrieve(c, r); });
  routes.add_prefix("GET", "/v1/series/", [c](const http_request& r) { return serve_sealed(c, r); }, "/sealed");
  routes.add_prefix("GET", "/v1/key-shares/",
                    [c](const http_request& r) { return release_shares(c, r); });
}

}  // namespace dm2::node
