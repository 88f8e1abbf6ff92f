#include "dicomweb_images.hpp"

#include <algorithm>
#include <vector>

#include "../dicomweb/image_request.hpp"
#include "../retrieval/multipart.hpp"
#include "dm2/pacs/dicom_json.hpp"
#include "retrieved_instances.hpp"

namespace dm2::node {
namespace {

using namespace dicomweb;

std::string accept_of(const http_request& request) {
  auto a = request.headers.find("accept");
  return a == request.headers.end() ? std::string() : a->second;
}

// An error as DICOMweb answers it: `unsupported` is the request's Accept, 406.
http_response refusal(const error& e) {
  auto r = error_response(e);
  if (e.code == errc::unsupported) r.status = 406;
  return r;
}

void wipe(std::string& s) { std::fill(s.begin(), s.end(), '\0'); }

// Each of `parts` framed as multipart/related of `type`; the parts are wiped.
http_response multipart_of(std::vector<std::string>& parts, const std::string& type) {
  auto framing = multipart_framing::random(type);
  std::string body;
  for (auto& p : parts) {
    body += framing.part_start(p.size()) + p + std::string(multipart_framing::part_end);
    wipe(p);
  }
  body += framing.closing();
  return http_response{
      200, framing.content_type(), {{"Cache-Control", "no-store"}}, std::move(body)};
}

// `make(instance, frame)` for each of `frames` (numbers from 1) of the instance `sop` of the
// series (of each instance when `sop` is ""), in order, into `out`. The response to send instead
// (the retrieval's, make's error, 404: no such instance or frame, 406: an image this node cannot
// decode), `out` then wiped; or nullopt.
using frame_maker = std::function<result<std::string>(const std::string& instance, unsigned frame)>;
std::optional<http_response> per_frame(const route_context& c, const http_request& request,
                                       const std::string& lfn, const std::string& sop,
                                       const std::vector<unsigned>& frames, const frame_maker& make,
                                       std::vector<std::string>& out) {
  bool found = false;
  auto failed = for_each_retrieved_instance(
      c, request, lfn, [&](const std::string& instance, std::size_t, std::size_t) -> result<bool> {
        if (!sop.empty()) {
          auto uid = pacs::sop_instance_uid_of(instance);
          if (!uid) return std::move(uid).err();
          if (*uid != sop) return true;
        }
        found = true;
        for (auto n : frames) {
          auto made = make(instance, n);
          if (!made) return std::move(made).err();
          out.push_back(std::move(*made));
        }
        return sop.empty();
      });
  if (!failed && !sop.empty() && !found)
    failed = error_response(fail(errc::not_found, "no such instance in that series"));
  if (!failed) return std::nullopt;
  for (auto& piece : out) wipe(piece);
  if (failed->status == 415) failed->status = 406;
  return failed;
}

}  // namespace

http_response wado_frames(const route_context& c, const http_request& request,
                          const std::string& lfn, const std::string& sop,
                          const std::string& frame_list) {
  if (auto ok = frames_acceptable(accept_of(request)); !ok) return refusal(ok.err());
  auto frames = parse_frame_list(frame_list);
  if (!frames) return error_response(frames.err());
  std::vector<std::string> parts;
  if (auto failed = per_frame(
          c, request, lfn, sop, *frames,
          [](const std::string& instance, unsigned n) {
            return pacs::frame_pixels(instance, n - 1);
          },
          parts))
    return *failed;
  return multipart_of(parts, "application/octet-stream");
}

http_response wado_rendered(const route_context& c, const http_request& request,
                            const std::string& lfn, const std::string& sop,
                            const std::string& frame_list) {
  auto asked = parse_rendered(request.target, accept_of(request));
  if (!asked) return refusal(asked.err());
  std::vector<unsigned> frames{1};
  if (!frame_list.empty()) {
    auto listed = parse_frame_list(frame_list);
    if (!listed) return error_response(listed.err());
    frames = std::move(*listed);
  }
  std::vector<std::string> images;
  const auto& how = asked->settings;
  if (auto failed = per_frame(
          c, request, lfn, sop, frames,
          [&how](const std::string& instance, unsigned n) {
            return pacs::rendered_frame(instance, n - 1, how);
          },
          images))
    return *failed;
  if (sop.empty() || images.size() != 1) return multipart_of(images, asked->media_type);
  return http_response{
      200, asked->media_type, {{"Cache-Control", "no-store"}}, std::move(images.front())};
}

}  // namespace dm2::node
