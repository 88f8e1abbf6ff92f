#include "retrieved_instances.hpp"

#include <algorithm>
#include <charconv>

#include "series_retrieval.hpp"

namespace dm2::node {

std::optional<http_response> for_each_retrieved_instance(const route_context& c,
                                                         const http_request& request,
                                                         const std::string& lfn,
                                                         const instance_taker& take) {
  auto retrieved = retrieve_series(c, request, lfn, series_form::instances);
  if (!retrieved.streamed) return retrieved;
  std::size_t count = 0;
  if (auto parts = retrieved.headers.find("DM2-Parts"); parts != retrieved.headers.end())
    std::from_chars(parts->second.data(), parts->second.data() + parts->second.size(), count);
  std::string instance;
  for (std::size_t index = 0;; ++index) {
    auto more = retrieved.streamed->next(instance);
    if (!more) return error_response(more.err());
    if (!*more) return std::nullopt;
    auto go_on = take(instance, index, count);
    std::fill(instance.begin(), instance.end(), '\0');
    if (!go_on) return error_response(go_on.err());
    if (!*go_on) return std::nullopt;
  }
}

}  // namespace dm2::node
