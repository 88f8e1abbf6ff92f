#include "owner_bundle.hpp"

#include <algorithm>

namespace dm2::node {
namespace {

constexpr std::size_t max_refusal_body = 64 * 1024;
// The answer opens each instance whole in memory (the volume streams in blocks): an owner may not
// list one above this (the whole bundle's bound before it was streamed).
constexpr std::uint64_t max_instance_bytes = std::uint64_t{1} << 30;

}  // namespace

owner_bundle::owner_bundle(series_form form, std::shared_ptr<sealed_handoff> handoff)
    : form_(form),
      handoff_(std::move(handoff)),
      decoder_(
          [this](const std::vector<bundle_entry>& files) -> status {
            for (const auto& f : files)
              if (!in_form(f.name, form_)) return fail(errc::malformed_input, "series bundle: a file of another form");
              else if (form_ == series_form::dicom && f.size > max_instance_bytes)
                return fail(errc::too_large, "series bundle: an instance over 1 GiB");
            listed_ = true;
            listing_.set_value(owner_listing{head_, files});
            return {};
          },
          [this](std::size_t, std::string_view bytes) -> status {
            if (handoff_->put(bytes)) return {};
            reader_gone_ = true;
            return fail(errc::unavailable, "the user's answer is gone");
          }) {}

status owner_bundle::take(const client_response& head, std::string_view piece) {
  if (!answered_) {
    answered_ = true;
    head_ = head;
  }
  if (head.status != 200) {
    head_.body.append(piece.substr(0, max_refusal_body - std::min(head_.body.size(), max_refusal_body)));
    return {};
  }
  auto fed = decoder_.feed(piece);
  if (!fed && !reader_gone_) broken_ = fed;
  return fed;
}

status owner_bundle::finish(const result<client_response>& answered) {
  status end = !broken_ ? broken_ : !answered ? status(answered.err()) : answered->status == 200 ? decoder_.finish() : status{};
  if (listed_) {
    handoff_->close(end);
    return reader_gone_ ? status{} : end;
  }
  if (!answered && !answered_)
    listing_.set_value(fail(errc::unavailable, answered.err().message));
  else if (answered && answered->status != 200)
    listing_.set_value(owner_listing{answered_ ? head_ : *answered, {}});
  else
    listing_.set_value(end.err());
  return {};
}

result<owner_listing> owner_bundle::listing() { return listed_future_.get(); }

}  // namespace dm2::node
