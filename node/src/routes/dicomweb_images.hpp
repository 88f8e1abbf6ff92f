// WADO-RS image resources (docs/dicomweb.md, "Frames and rendered images"), through the
// retrieval path like the instances (retrieved_instances.hpp): the same policy and audit.
//   .../instances/{sop}/frames/{list}            the frames' pixels, multipart/related
//                                                application/octet-stream, uncompressed
//   .../rendered (study, series, instance, frames)  image/jpeg or image/png, windowed
#pragma once

#include <string>

#include "route_context.hpp"

namespace dm2::node {

// `lfn`: the series the path's UIDs name; `sop`: the instance's SOP Instance UID; `frame_list`:
// the path's list ("1,3"). 406 for an Accept this node does not answer, 400 for a bad list,
// 404 for no such instance or frame; the retrieval's refusals as for the series.
http_response wado_frames(const route_context& c, const http_request& request,
                          const std::string& lfn, const std::string& sop,
                          const std::string& frame_list);

// `sop` "": every instance of the series (its first frame each), multipart/related of images;
// else that instance: its first frame, or the frames of `frame_list` ("" none), one image
// alone, several as multipart/related.
http_response wado_rendered(const route_context& c, const http_request& request,
                            const std::string& lfn, const std::string& sop,
                            const std::string& frame_list);

}  // namespace dm2::node
