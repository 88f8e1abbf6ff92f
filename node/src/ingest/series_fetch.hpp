// Fetches one series from the site's PACS into a scratch directory: C-GET over parallel
// associations (pacs::fetch_series), or one series-level C-MOVE to the node's own C-STORE SCP
// (pacs.retrieve = "move"). All or nothing: on error nothing is left in `dest`. `arrived` is
// called with each instance's file as it arrives (C-GET), or with all at the end (C-MOVE).
// Thread-safe (each call owns its clients).
#pragma once

#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "dm2/pacs/parallel_fetch.hpp"
#include "dm2/pacs/site_sync.hpp"

namespace dm2::node {

struct fetched_series {
  std::vector<std::filesystem::path> files;
  std::uint64_t bytes = 0;
};

// Errors: those of pacs::fetch_series or dicom_client::move; not_found (nothing arrived).
result<fetched_series> fetch_one_series(const pacs::pacs_settings& settings, bool use_move, const pacs::series_ref& ref,
                                        const std::filesystem::path& dest, std::stop_token stop,
                                        const std::function<void(const pacs::fetch_progress&)>& progress,
                                        const std::function<void(const std::filesystem::path&)>& arrived = {});

}  // namespace dm2::node
