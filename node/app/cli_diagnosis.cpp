// Diagnoses from the command line (docs/api.md): `dm2 diagnosis add LFN --code I21.4 --text ...`
// (a physician of the patient's care team, at the series' owning site) and `dm2 diagnosis list
// LFN` (codes, and texts where the node shows them). As the user of --session, or as this site.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct diagnosis_options : user_connection_options {
  std::string lfn, code, text;
};

void print_diagnosis(const json& d) {
  std::printf("  #%-3d %-8s %s%s%s\n", d.value("n", 0), d["code"].is_string() ? d["code"].get<std::string>().c_str() : "-",
              d.value("recorded_on", "").c_str(), d.contains("text") ? "  " : "",
              d.contains("text") ? d["text"].get<std::string>().c_str()
                                 : (d.value("has_text", false) ? "  (text kept at the owner)" : ""));
}

void diagnosis_add(const diagnosis_options& o) {
  json body = json::object();
  if (!o.code.empty()) body["code"] = o.code;
  if (!o.text.empty()) body["text"] = o.text;
  auto added = call_node(connect_as_user_or_site(o), "POST", "/v1/series/" + o.lfn + "/diagnoses", body.dump(), 201);
  std::printf("series %s, record version %llu:\n", added.value("lfn", "").c_str(),
              static_cast<unsigned long long>(added.value("version", 0ULL)));
  print_diagnosis(added["diagnosis"]);
}

void diagnosis_list(const diagnosis_options& o) {
  auto listed = call_node(connect_as_user_or_site(o), "GET", "/v1/series/" + o.lfn + "/diagnoses", {}, 200);
  std::printf("series %s (owner %s, record version %llu):\n", listed.value("lfn", "").c_str(),
              listed.value("owner", "").c_str(), static_cast<unsigned long long>(listed.value("version", 0ULL)));
  for (const auto& d : listed.value("diagnoses", json::array())) print_diagnosis(d);
}

void add_diagnosis_commands(CLI::App& dm2) {
  auto o = std::make_shared<diagnosis_options>();
  auto* diagnosis = dm2.add_subcommand("diagnosis", "Diagnoses recorded for a series by its patient's physicians");
  diagnosis->require_subcommand(1);
  auto* add = diagnosis->add_subcommand("add", "Record a diagnosis (a physician of the care team, at the owning site)");
  add_user_connection_options(add, *o);
  add->add_option("lfn", o->lfn, "The series' LFN")->required();
  add->add_option("--code", o->code, "An ICD-10 code (\"I21.4\"); replicated with the index record");
  add->add_option("--text", o->text, "A short free text (at most 1024 bytes); kept at this site only");
  add->callback([o] {
    if (o->code.empty() && o->text.empty()) throw command_failed(exit_usage, "give --code, --text, or both");
    diagnosis_add(*o);
  });
  auto* list = diagnosis->add_subcommand("list", "The diagnoses of a series (texts where the policy allows)");
  add_user_connection_options(list, *o);
  list->add_option("lfn", o->lfn, "The series' LFN")->required();
  list->callback([o] { diagnosis_list(*o); });
}

const registrar diagnosis_commands("diagnosis", &add_diagnosis_commands);

}  // namespace
}  // namespace dm2::cli
