#include "dm2/pacs/parallel_fetch.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "dm2/pacs/dicom_client.hpp"

namespace dm2::pacs {
namespace {

struct shared_state {
  std::mutex mutex;
  std::deque<std::string> queue;
  std::map<std::string, unsigned> attempts;
  std::map<std::string, std::string> stored;  // uid -> file
  std::optional<error> failure;               // first permanent failure
  fetch_progress progress;
  unsigned retried = 0;
};

void remove_files(const std::map<std::string, std::string>& stored) {
  std::error_code ec;
  for (const auto& [uid, file] : stored) std::filesystem::remove(file, ec);
}

}  // namespace

result<fetch_report> fetch_series(const pacs_settings& settings, const std::string& study_uid,
                                  const std::string& series_uid,
                                  const std::filesystem::path& dest_dir,
                                  const fetch_options& options) {
  if (auto v = validate(settings); !v) return v.err();
  std::vector<std::string> uids;
  {
    dicom_client lister(settings);
    auto matches = lister.find({query_level::image,
                                {{"StudyInstanceUID", study_uid}, {"SeriesInstanceUID", series_uid}}});
    if (!matches) return matches.err();
    std::set<std::string> seen;
    for (const auto& m : *matches) {
      const auto& uid = m.get("SOPInstanceUID");
      if (!uid.empty() && seen.insert(uid).second) uids.push_back(uid);
    }
  }
  if (uids.empty()) return fail(errc::not_found, "series has no instance on the PACS");

  shared_state state;
  state.queue.assign(uids.begin(), uids.end());
  state.progress.total = uids.size();
  std::atomic<bool> stop_flag{false};
  std::stop_callback on_stop(options.stop, [&] { stop_flag = true; });

  unsigned n = options.associations != 0 ? options.associations : settings.associations;
  n = static_cast<unsigned>(std::min<std::size_t>(std::max(1u, n), uids.size()));

  auto worker = [&] {
    dicom_client client(settings);
    while (!stop_flag) {
      std::string uid;
      {
        std::lock_guard lock(state.mutex);
        if (state.failure || state.queue.empty()) return;
        uid = std::move(state.queue.front());
        state.queue.pop_front();
      }
      auto got = client.get({query_level::image,
                             {{"StudyInstanceUID", study_uid},
                              {"SeriesInstanceUID", series_uid},
                              {"SOPInstanceUID", uid}}},
                            dest_dir, &stop_flag);
      std::lock_guard lock(state.mutex);
      if (got && got->files.size() == 1) {
        state.stored[uid] = got->files.front();
        state.progress.done++;
        state.progress.bytes += got->bytes;
        if (options.progress) options.progress(state.progress);
        continue;
      }
      if (got) {  // more or fewer objects than the one asked for: keep them for cleanup
        for (std::size_t i = 0; i < got->files.size(); ++i)
          state.stored[uid + "#" + std::to_string(i)] = got->files[i];
      }
      error e = got ? fail(errc::unavailable, "C-GET of one instance returned " +
                                                  std::to_string(got->files.size()) + " objects")
                    : got.err();
      if (e.code == errc::cancelled) return;
      if (options.on_attempt_failed) options.on_attempt_failed(uid, e);
      spdlog::warn("event=pacs_instance_failed attempt={} code={}", state.attempts[uid] + 1,
                   name_of(e.code));
      // Configuration and permission problems will not heal by retrying.
      bool retryable = e.code != errc::permission_denied && e.code != errc::invalid_config;
      if (retryable && state.attempts[uid]++ < options.retries) {
        state.retried++;
        state.queue.push_back(uid);
      } else if (!state.failure) {
        state.failure = std::move(e);
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  if (stop_flag) {
    remove_files(state.stored);
    return fail(errc::cancelled, "series fetch cancelled");
  }
  if (state.failure) {
    remove_files(state.stored);
    return std::move(*state.failure);
  }
  fetch_report report;
  report.associations = n;
  report.retried = state.retried;
  report.bytes = state.progress.bytes;
  for (const auto& uid : uids) report.files.push_back(state.stored[uid]);
  return report;
}

}  // namespace dm2::pacs
