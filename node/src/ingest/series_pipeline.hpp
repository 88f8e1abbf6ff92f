// One series through the ingest (docs/ingest.md, "Pipeline"): fetch -> assemble -> signature ->
// de-identify -> encrypt into the object store -> key split -> index record + key material +
// sealed nominative link + audit entry in ONE commit -> publish. A failure at any step leaves
// nothing committed for the series and removes its object files. Runs on the ingest's worker
// thread; thread-safe across series (each call owns its scratch and staging directories).
#pragma once

#include <filesystem>
#include <stop_token>
#include <string>

#include "../overlay_service.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/metrics.hpp"
#include "dm2/pacs/site_sync.hpp"
#include "ingest_status.hpp"
#include "object_store.hpp"
#include "series_links.hpp"
#include "series_restoration.hpp"

namespace dm2::node {

struct pipeline_context {
  const node_config* config = nullptr;
  overlay_service* overlay = nullptr;
  const object_store* objects = nullptr;
  const series_links* links = nullptr;
  std::filesystem::path scratch_root;  // plaintext work area, removed after each series
  std::string uid_secret;              // de-identification's UID remapping secret (site-local)
  metrics* stats = nullptr;
  ingest_book* book = nullptr;
  std::stop_token stop;
};

enum class series_outcome { indexed, unchanged };

struct series_failed {
  std::string stage;  // where it failed
  std::string lfn;    // the LFN it was being ingested under
  error why;
};

// Errors come back as series_failed (error.code tells transient from permanent).
struct series_result {
  series_outcome outcome = series_outcome::indexed;
  std::string lfn;
  std::uint64_t version = 0;  // indexed: the version its sealed files were placed at
  std::optional<series_failed> failure;
};

series_result ingest_series(const pipeline_context& c, const pacs::series_ref& ref);

// Re-assembles a series whose sealed files were evicted (docs/ingest.md, "Cache"): fetched
// again from the PACS by the original UIDs of its nominative link, the same de-identification,
// assembly and NIfTI writing as its ingest (deterministic: the same plaintext bytes), sealed
// under its key at the version its lookup names (the committed content) and placed without a
// sync. With the link's manifest each instance is sealed as it arrives and `into` hears of it,
// so its readers serve it while the rest still comes; the series is placed (through `into`)
// only when every file is sealed and the fetched instances are the indexed version's. Returns
// that version. Commits nothing. Errors (the caller fails `into` with them): conflict (the PACS
// holds other instances than the indexed version: the next ingest run makes a new one), those
// of the fetch (unavailable, timeout, not_found), the assembly, the de-identification, the
// sealing and the placing. On error nothing is left.
result<std::uint64_t> restore_series(const pipeline_context& c, const std::string& lfn, const std::string& series_key,
                                    const nominative_link& link, const series_lookup& lookup, series_restoration& into);

}  // namespace dm2::node
