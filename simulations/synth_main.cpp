// dm2-synth: writes one anatomy-like synthetic DICOM series (heart MR short-axis stack or chest
// CT) for a seeded patient, or a near-duplicate of it (--variant), into a directory; prints one
// JSON line describing it (UIDs, file count, anatomy and pathology; nothing nominative).
// The demo loads its PACS with it (scripts/demo-consortium.sh). See synth/phantom.hpp.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

#include "phantom.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dm2-synth: one anatomy-like synthetic DICOM series (heart MR or chest CT) per call"};
  std::string out, kind = "heart-mr";
  dm2::synth::phantom_options o;
  dm2::synth::patient_identity who;
  app.add_option("--out", out, "Directory to write the series into (created)")->required();
  app.add_option("--kind", kind, "heart-mr (short-axis stack) or chest-ct (axial, HU)")->capture_default_str();
  app.add_option("--seed", o.seed, "The patient: anatomy, pathology and identity")->capture_default_str();
  app.add_option("--variant", o.variant, "0 = the original series; N > 0 = a near-duplicate of it")
      ->capture_default_str();
  app.add_option("--slices", o.slices, "Slices (0 = MR 24, CT 48)")->check(CLI::Range(0, 1024));
  app.add_option("--size", o.size, "Rows = columns")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--study-date", o.study_date, "YYYYMMDD (default drawn from seed and variant)");
  app.add_option("--patient-name", who.name, "Override: PatientName (FAMILY^GIVEN)");
  app.add_option("--patient-id", who.id, "Override: PatientID");
  app.add_option("--birth-date", who.birth_date, "Override: PatientBirthDate (YYYYMMDD)");
  app.add_option("--institution", who.institution, "Override: InstitutionName");
  app.add_option("--referring", who.referring_physician, "Override: ReferringPhysicianName");
  app.add_option("--accession", who.accession, "Override: AccessionNumber");
  CLI11_PARSE(app, argc, argv);

  auto parsed = dm2::synth::parse_study_kind(kind);
  if (!parsed) {
    std::fprintf(stderr, "dm2-synth: --kind must be heart-mr or chest-ct\n");
    return 2;
  }
  o.kind = *parsed;
  // Overrides replace the drawn identity field by field.
  auto identity = dm2::synth::identity_of(o.seed);
  for (auto [field, given] : {std::pair{&identity.name, &who.name}, {&identity.id, &who.id},
                              {&identity.birth_date, &who.birth_date}, {&identity.institution, &who.institution},
                              {&identity.referring_physician, &who.referring_physician},
                              {&identity.accession, &who.accession}})
    if (!given->empty()) *field = *given;
  o.identity = identity;
  try {
    std::filesystem::create_directories(out);
    auto series = dm2::synth::write_phantom_series(out, o);
    auto a = dm2::synth::anatomy_of(o.seed);
    nlohmann::json line = {{"kind", kind},
                           {"seed", o.seed},
                           {"variant", o.variant},
                           {"dir", out},
                           {"files", series.files.size()},
                           {"study_uid", series.study_uid},
                           {"series_uid", series.series_uid},
                           {"wall_mm", a.wall},
                           {"hypertrophy", a.hypertrophy},
                           {"pericardial_effusion_mm", a.pericardial_effusion},
                           {"pleural_effusion_mm", a.pleural_effusion}};
    std::cout << line.dump() << '\n';
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dm2-synth: %s\n", e.what());
    return 1;
  }
  return 0;
}
