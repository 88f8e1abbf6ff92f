#include "series_fetch.hpp"

#include "dm2/pacs/dicom_client.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

result<fetched_series> fetch_one_series(const pacs::pacs_settings& settings, bool use_move, const pacs::series_ref& ref,
                                        const fs::path& dest, std::stop_token stop,
                                        const std::function<void(const pacs::fetch_progress&)>& progress,
                                        const std::function<void(const fs::path&)>& arrived) {
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return fail(errc::io_error, "cannot create a scratch directory: " + ec.message());
  fetched_series out;
  if (use_move) {
    pacs::dicom_client client(settings);
    pacs::dicom_query q;
    q.level = pacs::query_level::series;
    q.keys = {{"StudyInstanceUID", ref.study_uid}, {"SeriesInstanceUID", ref.series_uid}};
    auto moved = client.move(q, dest);
    if (!moved || moved->files.empty()) {
      fs::remove_all(dest, ec);
      if (!moved) return std::move(moved).err();
      return fail(errc::not_found, "the PACS moved no object of the series");
    }
    for (const auto& f : moved->files) out.files.emplace_back(f);
    out.bytes = moved->bytes;
    if (progress) progress({out.files.size(), out.files.size(), out.bytes});
    if (arrived)
      for (const auto& f : out.files) arrived(f);
    return out;
  }
  pacs::fetch_options options;
  options.stop = stop;
  options.progress = progress;
  if (arrived) options.arrived = [&arrived](const std::string& path) { arrived(path); };
  auto fetched = pacs::fetch_series(settings, ref.study_uid, ref.series_uid, dest, options);
  if (!fetched) {
    fs::remove_all(dest, ec);
    return std::move(fetched).err();
  }
  for (const auto& f : fetched->files) out.files.emplace_back(f);
  out.bytes = fetched->bytes;
  return out;
}

}  // namespace dm2::node
