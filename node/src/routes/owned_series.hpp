// The records of series this site owns, chosen by a predicate on the LFN: a patient's own series
// (GET /v1/me/accesses) or those of a physician's care teams (GET /v1/me/series).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "route_context.hpp"

namespace dm2::node {

// At most `limit` records owned here whose LFN `wanted` accepts, in LFN order, without their
// payloads (overlay_service::find has them).
std::vector<dht::record> owned_series_where(const route_context& c, const std::function<bool(const std::string&)>& wanted,
                                            std::size_t limit);

}  // namespace dm2::node
