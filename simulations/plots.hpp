// dm2-sim's PNG plots, drawn by python3 + matplotlib from the CSVs the run wrote.
#pragma once

#include <string>

namespace dm2::sim {

// Each returns 0, or 3 when plotting failed (python3-matplotlib missing).
// Sites alive, messages/s, under-replication and key availability over time.
int plot_time_series(const std::string& csv, const std::string& png, const std::string& title);
// The query latency CDF from the per-query CSV (query_load::write_results), with completeness.
int plot_query_cdf(const std::string& queries_csv, const std::string& png, const std::string& title);

}  // namespace dm2::sim
