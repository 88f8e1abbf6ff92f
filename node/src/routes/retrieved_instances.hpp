// A series' instances retrieved for a user and used by the node itself (DICOMweb's metadata,
// instance list, frames and rendered images): the retrieval path
// (series_retrieval.hpp: policy, audit, assertion, key shares), each instance opened in memory
// in slice order and wiped once used.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "route_context.hpp"

namespace dm2::node {

// `take(instance, index, count)` is called for each instance (a Part 10 file) in slice order,
// index 0..count-1; it answers true for the next one, false to stop there. The response to send
// instead: the retrieval's (401, 403, 404, 503...) or take's error's; nullopt when done.
using instance_taker =
    std::function<result<bool>(const std::string& instance, std::size_t index, std::size_t count)>;
std::optional<http_response> for_each_retrieved_instance(const route_context& c,
                                                         const http_request& request,
                                                         const std::string& lfn,
                                                         const instance_taker& take);

}  // namespace dm2::node
