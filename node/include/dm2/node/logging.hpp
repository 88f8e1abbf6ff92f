// Structured logging: one line per event on stderr, logfmt (`ts=... level=info event=... k=v`),
// which journald keeps and log shippers parse. Messages never carry nominative data.
#pragma once

#include <string>

#include "dm2/result.hpp"

namespace dm2::node {

// Sets spdlog's default logger: stderr, UTC timestamps, logfmt prefix, `level` threshold.
// Errors: invalid_config (unknown level).
status setup_logging(const std::string& level);

// Quotes a value for logfmt when it has spaces, quotes or '=' (so one event stays one record).
std::string logfmt_value(std::string_view value);

}  // namespace dm2::node
