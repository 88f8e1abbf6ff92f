// Waiting for a dm2d site's ingest run to end (the benches that ingest). Header-only.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>

#include "process_consortium.hpp"

namespace dm2::bench {

// Polls site `site`'s GET /v1/ingest until no run is under way and one has ended; returns the
// last report (an empty object if it never did within `limit`).
inline nlohmann::json wait_for_ingest(const test::process_consortium& c, int site, std::chrono::milliseconds limit) {
  nlohmann::json report;
  bool ended = test::eventually(
      [&] {
        auto r = c.request(site, "GET", "/v1/ingest", {}, site);
        if (!r || r->status != 200) return false;
        report = nlohmann::json::parse(r->body, nullptr, false);
        return report.is_object() && report.value("last_run", nlohmann::json()).is_object() &&
               report.value("current_run", nlohmann::json()).is_null();
      },
      limit);
  return ended ? report : nlohmann::json::object();
}

}  // namespace dm2::bench
