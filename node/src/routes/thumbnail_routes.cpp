// GET /v1/series/{lfn}/thumbnail (docs/api.md): the desk's picture of a hit, the series' middle
// slice as a small PNG, for a user allowed the images: the retrieval path (the same policy,
// audit, assertion and key shares as GET /v1/series/{lfn}), the slice rendered in memory here at
// the user's home site, nothing kept.
#include "dm2/pacs/dicom_render.hpp"
#include "retrieved_instances.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

constexpr unsigned thumbnail_size = 128;  // pixels, the longer side at most

http_response thumbnail(const route_context& c, const http_request& request) {
  auto lfn = lfn_in(request.target, "/v1/series/", "/thumbnail");
  if (lfn.empty())
    return error_response(
        fail(errc::invalid_argument, "give /v1/series/<32 hex digits>/thumbnail"));
  pacs::render_settings how;
  how.format = pacs::image_format::png;
  how.max_columns = how.max_rows = thumbnail_size;
  std::string png;
  auto failed = for_each_retrieved_instance(
      c, request, lfn,
      [&](const std::string& instance, std::size_t index, std::size_t count) -> result<bool> {
        if (index < count / 2) return true;
        auto frames = pacs::frame_count(instance);
        if (!frames) return std::move(frames).err();
        auto image = pacs::rendered_frame(instance, *frames / 2, how);
        if (!image) return std::move(image).err();
        png = std::move(*image);
        return false;
      });
  if (failed) return *failed;
  if (png.empty()) return error_response(fail(errc::not_found, "the series holds no instance"));
  return http_response{200, "image/png", {{"Cache-Control", "no-store"}}, std::move(png)};
}

}  // namespace

void add_thumbnail_routes(router& routes, const route_context& c) {
  routes.add_prefix(
      "GET", "/v1/series/", [c](const http_request& r) { return thumbnail(c, r); }, "/thumbnail");
}

}  // namespace dm2::node
