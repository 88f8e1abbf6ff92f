// Why a PACS rejected our association (internal).
#pragma once

#include <string>

#include "dm2/pacs/pacs_settings.hpp"

namespace dm2::pacs::detail {

// DcmSCU keeps the A-ASSOCIATE-RJ parameters to itself (it logs them at debug level only), so
// after a rejection this asks again with a minimal association (Verification only, same AE
// titles) and reads result, source and reason from the reject. Returns a sentence naming what
// the PACS objected to (our calling AE title, its called AE title, congestion...) and what to
// change, or "" if the second request was not rejected or failed otherwise. Blocking (at most
// settings.timeout); thread-safe.
std::string ask_reject_reason(const pacs_settings& settings);

}  // namespace dm2::pacs::detail
