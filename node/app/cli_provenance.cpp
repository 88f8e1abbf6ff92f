// `dm2 provenance ID` (docs/similarity.md, "Provenance"): what produced a stage-2 score — the id
// a hit of `dm2 query --by-series` carries — asked of this site (the query's home site or the
// computing site). As the user of --session, or as this site.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct provenance_options : user_connection_options {
  std::string id;
};

void show_provenance(const provenance_options& o) {
  auto p = call_node(connect_as_user_or_site(o), "GET", "/v1/provenance/" + o.id, {}, 200);
  const auto& a = p["algorithm"];
  std::printf("score           %.6g\n", p.value("score", 0.0));
  std::printf("algorithm       %s/%s\n", a.value("name", "").c_str(), a.value("version", "").c_str());
  const auto parameters = a.value("parameters", json::object());  // named: items() must not outlive it
  for (const auto& [key, value] : parameters.items())
    std::printf("  %-13s %s\n", key.c_str(), value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
  std::printf("input series    %s version %llu\n", p["input"].value("lfn", "").c_str(),
              static_cast<unsigned long long>(p["input"].value("series_version", 0ULL)));
  std::printf("query volume    sha256 %s (grid %llu)\n", p["query_volume"].value("sha256", "").c_str(),
              static_cast<unsigned long long>(p["query_volume"].value("grid", 0ULL)));
  std::printf("computed by     %s at %lld ms (Unix), first for query %s\n", p.value("computed_by", "").c_str(),
              static_cast<long long>(p.value("computed_at_ms", 0LL)), p.value("first_query", "").c_str());
}

void add_provenance_commands(CLI::App& dm2) {
  auto o = std::make_shared<provenance_options>();
  auto* cmd = dm2.add_subcommand("provenance", "What produced a stage-2 score (the id on a query-by-image hit)");
  add_user_connection_options(cmd, *o);
  cmd->add_option("id", o->id, "The provenance id (32 hex digits)")->required();
  cmd->callback([o] { show_provenance(*o); });
}

const registrar provenance_commands("provenance", &add_provenance_commands);

}  // namespace
}  // namespace dm2::cli
