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
  return http_response{200, framing.content_type(), {{"Cache-Control", "no-store"}}, std::move(body)};
}

// Runs `use(instance)` on the instance `sop` of the series (on each instance when `sop` is "").
// The response to send instead (the retrieval's, use's error, 404: no such instance) or nullopt.
std::optional<http_response> with_instances(const route_context& c, const http_request& request,
                                            const std::string& lfn, const std::string& sop,
                                            const std::function<status(const std::string&)>& use) {
  bool found = false;
  auto failed = for_each_retrieved_instance(
      c, request, lfn, [&](const std::string& instance, std::size_t, std::size_t) -> result<bool> {
        if (!sop.empty()) {
          auto uid = pacs::sop_instance_uid_of(instance);
          if (!uid) return std::move(uid).err();
          if (*uid != sop) return true;
        }
        found = true;
        if (auto s = use(instance); !s) return s.err();
        return sop.empty();
      });
  if (failed && failed->status == 415) failed->status = 406;  // an image this node cannot decode
  if (failed) return failed;
  if (!sop.empty() && !found)
    return error_response(fail(errc::not_found, "no such instance in that series"));
  return std::nullopt;
}

}  // namespace

http_response wado_frames(const route_context& c, const http_request& request, const std::string& lfn,
                          const std::string& sop, const std::string& frame_list) {
  if (auto ok = frames_acceptable(accept_of(request)); !ok) return refusal(ok.err());
  auto frames = parse_frame_list(frame_list);
  if (!frames) return error_response(frames.err());
  std::vector<std::string> parts;
  auto failed = with_instances(c, request, lfn, sop, [&](const std::string& instance) -> status {
    for (auto n : *frames) {
      auto pixels = pacs::frame_pixels(instance, n - 1);
      if (!pixels) return std::move(pixels).err();
      parts.push_back(std::move(*pixels));
    }
    return {};
  });
  if (failed) {
    for (auto& p : parts) wipe(p);
    return *failed;
  }
  return multipart_of(parts, "application/octet-stream");
}

http_response wado_rendered(const route_context& c, const http_request& request, const std::string& lfn,
                            const std::string& sop, const std::string& frame_list) {
  auto asked = parse_rendered(request.target, accept_of(request));
  if (!asked) return refusal(asked.err());
  std::vector<unsigned> frames{1};
  if (!frame_list.empty()) {
    auto listed = parse_frame_list(frame_list);
    if (!listed) return error_response(listed.err());
    frames = std::move(*listed);
  }
  std::vector<std::string> images;
  auto failed = with_instances(c, request, lfn, sop, [&](const std::string& instance) -> status {
    for (auto n : frames) {
      auto image = pacs::rendered_frame(instance, n - 1, asked->settings);
      if (!image) return std::move(image).err();
      images.push_back(std::move(*image));
    }
    return {};
  });
  if (failed) {
    for (auto& i : images) wipe(i);
    return *failed;
  }
  if (sop.empty() || images.size() != 1) return multipart_of(images, asked->media_type);
  return http_response{200, asked->media_type, {{"Cache-Control", "no-store"}}, std::move(images.front())};
}

}  // namespace dm2::node
