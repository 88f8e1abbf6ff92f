#include "series_at_pacs.hpp"

#include <cstdlib>
#include <map>

#include "dm2/pacs/dicom_client.hpp"
#include "ingest/series_fetch.hpp"
#include "uploaded_series.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

namespace {

result<std::vector<pacs::find_match>> find(const node_config& config, pacs::query_level level,
                                           std::map<std::string, std::string> keys) {
  pacs::dicom_client client(config.pacs);
  return client.find({level, std::move(keys)});
}

}  // namespace

result<series_at_pacs> find_series_at_pacs(const node_config& config, const std::string& study_uid,
                                           const std::string& series_uid, std::size_t max_instances) {
  const auto missing = fail(errc::not_found, "pacs_series: no such series ingested at this site nor at its PACS" +
                                                 std::string(study_uid.empty() ? " (give study_uid too: a PACS may "
                                                                                 "find a series only in its study)"
                                                                               : ""));
  if (!config.pacs_configured) return missing;
  // The series (and its study, when not given): a PACS that answers series-level queries only
  // under a study (hierarchical, as dcmqrscp) finds nothing, or fails, without it.
  auto series = find(config, pacs::query_level::series,
                     {{"StudyInstanceUID", study_uid}, {"SeriesInstanceUID", series_uid}, {"Modality", ""},
                      {"NumberOfSeriesRelatedInstances", ""}});
  if (!series) return study_uid.empty() || series.err().code == errc::not_found ? missing : std::move(series).err();
  if (series->size() != 1 || series->front().get("SeriesInstanceUID") != series_uid) return missing;
  // The upload's bound on files, checked before anything is fetched.
  const auto& instances = series->front().get("NumberOfSeriesRelatedInstances");
  if (!instances.empty() && std::strtoull(instances.c_str(), nullptr, 10) > max_instances)
    return fail(errc::too_large, "pacs_series: over " + std::to_string(max_instances) + " instances");
  series_at_pacs out;
  out.ref.series_uid = series_uid;
  out.ref.study_uid = series->front().get("StudyInstanceUID");
  out.ref.modality = series->front().get("Modality");
  if (out.ref.study_uid.empty() || (!study_uid.empty() && out.ref.study_uid != study_uid)) return missing;
  // Whose it is: a patient-level attribute, asked of its study.
  auto study = find(config, pacs::query_level::study, {{"StudyInstanceUID", out.ref.study_uid}, {"PatientID", ""}});
  if (!study) return std::move(study).err();
  if (study->size() != 1 || study->front().get("PatientID").empty()) return missing;
  out.patient_id = study->front().get("PatientID");
  return out;
}

result<similarity::volume> fetch_series_volume(const node_config& config, const series_at_pacs& series,
                                               std::size_t max_voxels) {
  return assemble_in_scratch(config.data_dir, max_voxels, "pacs_series: ",
                             [&](const fs::path& folder) -> result<std::vector<fs::path>> {
                               auto fetched = fetch_one_series(config.pacs, config.retrieve == "move", series.ref,
                                                               folder / "pacs", {}, {});
                               if (!fetched) return std::move(fetched).err();
                               return std::move(fetched->files);
                             });
}

}  // namespace dm2::node
