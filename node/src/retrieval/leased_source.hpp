// A streamed body that holds a lease while it is sent: the object cache's pin on the sealed
// files it reads one at a time (ingest_service::stored_series::lease), released with the
// response, so that eviction never removes a file under a reader; or, for another owner's
// series, what stops its reading when the response goes (sealed_handoff::abandon).
#pragma once

#include <memory>
#include <utility>

#include "dm2/node/http_types.hpp"

namespace dm2::node {

class leased_source final : public body_source {
 public:
  leased_source(std::shared_ptr<body_source> inner, std::shared_ptr<const void> lease)
      : inner_(std::move(inner)), lease_(std::move(lease)) {}
  std::optional<std::uint64_t> size() const override { return inner_->size(); }
  result<bool> next(std::string& piece) override { return inner_->next(piece); }

 private:
  std::shared_ptr<body_source> inner_;
  std::shared_ptr<const void> lease_;
};

}  // namespace dm2::node
