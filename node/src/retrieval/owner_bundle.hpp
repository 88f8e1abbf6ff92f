// The home site's reading of another owner's sealed series (GET /v1/series/{lfn}/sealed), fed
// piece by piece by https_connection::request_streamed on a thread of its own. The owner's
// status and headers and the bundle's directory are known first (listing(): the user's status,
// DM2-Series-Version and Content-Length follow from them); then each file's bytes go, as they
// arrive, through a sealed_handoff to the user's answer, which opens each file once it is whole.
// The bundle is decoded strictly (bundle_decoder, series_bundle.hpp); a failure after the
// listing closes the hand-off with its error, so the user's answer ends short of its length.
// Thread-safe: take() and finish() on the reading thread, listing() once on another.
#pragma once

#include <future>
#include <memory>
#include <string_view>
#include <vector>

#include "dm2/node/https_client.hpp"
#include "sealed_handoff.hpp"
#include "series_answer.hpp"
#include "series_bundle.hpp"

namespace dm2::node {

struct owner_listing {
  client_response head{};             // the owner's status and headers; a refusal's body (at most 64 KiB)
  std::vector<bundle_entry> files{};  // a 200's files, in the bundle's order
};

class owner_bundle {
 public:
  // The owner was asked for `form`'s files (?format=); their bytes go to `handoff`.
  owner_bundle(series_form form, std::shared_ptr<sealed_handoff> handoff);
  owner_bundle(const owner_bundle&) = delete;  // its decoder calls back into it
  owner_bundle& operator=(const owner_bundle&) = delete;

  // The body sink (https_connection::body_sink). Errors: the decoder's (malformed_input: also
  // a file of another form); unavailable when the user's answer is gone (stop reading).
  status take(const client_response& head, std::string_view piece);
  // The request returned: its head, or why it failed. Returns what cut the user's answer short,
  // for the log: ok when the bundle ended whole, when the user's answer was gone first, or when
  // the failure came before the listing (listing() reports it then).
  status finish(const result<client_response>& answered);

  // Waits until the owner's answer is known. Errors: unavailable (no answer came: the request's
  // error in the message), malformed_input (a 200 whose directory does not decode, or that
  // stopped before its end), or the request's error when it broke after the head.
  result<owner_listing> listing();

 private:
  series_form form_;
  std::shared_ptr<sealed_handoff> handoff_;
  bundle_decoder decoder_;
  client_response head_{};
  bool answered_ = false, listed_ = false, reader_gone_ = false;
  status broken_{};  // the decoder's verdict, once it failed
  std::promise<result<owner_listing>> listing_;
  std::future<result<owner_listing>> listed_future_ = listing_.get_future();
};

}  // namespace dm2::node
