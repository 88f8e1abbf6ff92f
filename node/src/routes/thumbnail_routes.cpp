// GET /v1/series/{lfn}/thumbnail (docs/api.md): the desk's picture of a hit, the series' middle
// slice as a small PNG, rendered by the series' owner from its own copy. The user asks his home
// site, which decides with the policy (the image class), audits, and asks the owner over mutual
// TLS under one signed assertion; the owner decides again, audits, opens the middle instance
// alone with its series key (re-assembled from its PACS when evicted) and answers the PNG only.
// No ciphertext and no key share leaves the owner, nothing is kept anywhere.
#include <algorithm>

#include "../retrieval/series_answer.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/pacs/dicom_render.hpp"
#include "routes.hpp"
#include "series_retrieval.hpp"

namespace dm2::node {
namespace {

constexpr unsigned thumbnail_size = 128;  // pixels, the longer side at most
// A 128 x 128 RGB PNG is at most ~49 KiB; an owner's answer beyond this is not a thumbnail.
constexpr std::size_t max_thumbnail_bytes = 1 << 20;
constexpr std::string_view png_signature = "\x89PNG\r\n\x1a\n";

http_response png_response(std::string png) {
  return http_response{200, "image/png", {{"Cache-Control", "no-store"}}, std::move(png)};
}

// The owner's rendering: the middle frame of the middle instance of its stored copy, opened in
// memory with the owned series key. Errors: not_found (not owned here, no instance), those of
// ingest_service::stored (unavailable: evicted and the PACS down), series_answer and dcmimage.
result<std::string> render_owned(const route_context& c, const std::string& lfn) {
  auto key = c.overlay->owned_key(lfn);
  if (!key) return fail(errc::not_found, "this site owns no key for that series");
  auto stored = c.ingest->stored(lfn);  // its lease keeps the files on disk until this returns
  if (!stored) return std::move(stored).err();
  std::vector<sealed_file> instances;
  for (const auto& f : stored->files)
    if (f.name.ends_with(".dcm.dm2s")) instances.push_back({f.name, f.size, f.path, f.open_when_sealed, {}});
  if (instances.empty()) return fail(errc::not_found, "the series holds no instance");
  auto middle = std::move(instances[instances.size() / 2]);
  auto opened = series_answer::open(std::move(key->secret), lfn, stored->version, {std::move(middle)},
                                    series_form::instances, nullptr);
  if (!opened) return std::move(opened).err();
  std::string instance;
  auto read = (*opened)->next(instance);
  if (!read) return std::move(read).err();
  pacs::render_settings how;
  how.format = pacs::image_format::png;
  how.max_columns = how.max_rows = thumbnail_size;
  auto frames = pacs::frame_count(instance);
  auto png = frames ? pacs::rendered_frame(instance, *frames / 2, how) : result<std::string>(std::move(frames).err());
  std::fill(instance.begin(), instance.end(), '\0');
  return png;
}

// The home site's leg when another site owns the series: the owner's PNG, or why not.
result<std::string> thumbnail_from_owner(const route_context& c, const access::principal& who,
                                         const access::facts& image, const std::string& lfn,
                                         const std::string& owner) {
  auto wire = retrieval_assertion(c, who, image, lfn, crypto::to_hex(crypto::random_bytes(16)),
                                  {access::data_class::deidentified_image});
  if (!wire) return std::move(wire).err();
  auto r = c.ask_peer(owner, "/v1/series/" + lfn + "/thumbnail", *wire);
  if (!r)
    return fail(errc::unavailable, "thumbnails are rendered by the series' hospital; owner unreachable (" + owner +
                                       "): the index still answers, the images return with their owner");
  if (r->status != 200) return peer_error(*r, "the owner " + owner);
  if (r->body.size() > max_thumbnail_bytes || !r->body.starts_with(png_signature))
    return fail(errc::unavailable, "the owner " + owner + " answered something other than a thumbnail");
  return std::move(r->body);
}

http_response thumbnail(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, "/v1/series/", "/thumbnail");
  if (lfn.empty())
    return error_response(
        fail(errc::invalid_argument, "give /v1/series/<32 hex digits>/thumbnail"));
  auto p = c.authenticate(request);
  if (!p) return error_response(p.err());
  auto who = std::move(*p);
  // The owner's side: another site's user, under his home site's assertion.
  if (who.asserted) {
    if (c.overlay->owned_version(lfn) == 0)
      return error_response(fail(errc::not_found, "this site does not own that series"));
    auto f = c.facts_for(who, access::data_class::deidentified_image, access::action::read, lfn, c.self_site());
    if (auto no = c.authorize(who, f, "thumbnail_serve", lfn)) return *no;
    auto png = render_owned(c, lfn);
    return png ? png_response(std::move(*png)) : error_response(png.err());
  }
  // The home site's.
  auto owner = owner_of(c, lfn);
  if (owner.empty()) return error_response(fail(errc::not_found, "no index record for that LFN here"));
  auto image = c.facts_for(who, access::data_class::deidentified_image, access::action::read, lfn, owner);
  if (auto no = c.authorize(who, image, "thumbnail_get", lfn)) return *no;
  auto png = owner == c.self_site() ? render_owned(c, lfn) : thumbnail_from_owner(c, who, image, lfn, owner);
  return png ? png_response(std::move(*png)) : error_response(png.err());
}

}  // namespace

void add_thumbnail_routes(router& routes, const route_context& c) {
  routes.add_prefix(
      "GET", "/v1/series/", [c](const http_request& r) { return thumbnail(c, r); }, "/thumbnail");
}

}  // namespace dm2::node
