#include "dm2/pacs/parallel_fetch.hpp"

#include <algorithm>
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
  std::map<std::string, std::string> stored;  // uid -> file ("" when received into memory)
  std::optional<error> failure;               // first permanent failure
  std::optional<error> too_large;             // received into memory beyond the cap
  // Classes the PACS sent for instances whose class its C-FIND did not name (proposed for the
  // next such instances instead of negotiating the fallback list again), and the instances for
  // which that guess failed (they go back to the fallback list).
  std::set<std::string> learned;
  std::set<std::string> guess_failed;
  fetch_progress progress;
  unsigned retried = 0;
};

void remove_files(const std::map<std::string, std::string>& stored) {
  std::error_code ec;
  for (const auto& [uid, file] : stored)
    if (!file.empty()) std::filesystem::remove(file, ec);
}

}  // namespace

result<fetch_report> fetch_series(const pacs_settings& settings, const std::string& study_uid,
                                  const std::string& series_uid,
                                  const std::filesystem::path& dest_dir,
                                  const fetch_options& options) {
  if (auto v = validate(settings); !v) return v.err();
  std::vector<std::string> uids;
  std::map<std::string, std::string> class_of;  // SOPInstanceUID -> SOPClassUID ("" if not told)
  {
    dicom_client lister(settings);
    auto matches = lister.find({query_level::image,
                                {{"StudyInstanceUID", study_uid}, {"SeriesInstanceUID", series_uid}}});
    if (!matches) return matches.err();
    for (const auto& m : *matches) {
      const auto& uid = m.get("SOPInstanceUID");
      if (!uid.empty() && class_of.emplace(uid, m.get("SOPClassUID")).second) uids.push_back(uid);
    }
  }
  if (uids.empty()) return fail(errc::not_found, "series has no instance on the PACS");

  // A C-GET association can receive only the classes it proposed, at most max_get_sop_classes
  // with every transfer syntax. Usually a series has a few classes: every C-GET proposes them
  // all, so each worker keeps one association. Otherwise each batch holds at most that many
  // classes (the queue grouped by class) and proposes its own. Instances whose class the PACS
  // did not name (some older PACS omit SOPClassUID at image level) propose the classes learned
  // from the objects received so far, or, before any, nothing: dicom_client then negotiates its
  // fallback list in small chunks.
  std::set<std::string> series_classes;
  for (const auto& [uid, sop_class] : class_of) series_classes.insert(sop_class);
  const bool one_offer = series_classes.size() <= max_get_sop_classes && series_classes.count("") == 0;
  // Under state.mutex.
  auto offer = [&](const shared_state& st, const std::set<std::string>& batch_classes,
                   const std::vector<std::string>& batch) -> std::vector<std::string> {
    if (one_offer) return {series_classes.begin(), series_classes.end()};
    if (batch_classes.count("") == 0) return {batch_classes.begin(), batch_classes.end()};
    if (st.learned.empty()) return {};
    for (const auto& uid : batch)
      if (st.guess_failed.count(uid) != 0) return {};
    std::set<std::string> c = st.learned;
    for (const auto& k : batch_classes)
      if (!k.empty()) c.insert(k);
    if (c.size() > max_get_sop_classes) return {};
    return {c.begin(), c.end()};
  };

  shared_state state;
  state.queue.assign(uids.begin(), uids.end());
  if (!one_offer)
    std::stable_sort(state.queue.begin(), state.queue.end(),
                     [&](const std::string& a, const std::string& b) { return class_of.at(a) < class_of.at(b); });
  state.progress.total = uids.size();
  std::atomic<bool> stop_flag{false};
  std::stop_callback on_stop(options.stop, [&] { stop_flag = true; });

  unsigned n = options.associations != 0 ? options.associations : settings.associations;
  n = static_cast<unsigned>(std::min<std::size_t>(std::max(1u, n), uids.size()));

  // Several instances per C-GET: each request costs round trips (and the PACS's Nagle delay on
  // its final response), so a batch per request keeps each association streaming. Two batches
  // per association at first, so the work still spreads when one association is slower.
  const std::size_t batch = options.batch != 0
                                ? options.batch
                                : std::clamp<std::size_t>((uids.size() + 2 * n - 1) / (2 * n), 1, 64);

  auto worker = [&] {
    dicom_client client(settings);
    while (!stop_flag) {
      std::vector<std::string> mine;
      std::set<std::string> classes;
      get_options get_opts;
      {
        std::lock_guard lock(state.mutex);
        if (state.failure || state.queue.empty()) return;
        while (!state.queue.empty() && mine.size() < batch) {
          const std::string& sop_class = class_of.at(state.queue.front());
          if (classes.count(sop_class) == 0 && classes.size() == max_get_sop_classes) break;
          classes.insert(sop_class);
          mine.push_back(std::move(state.queue.front()));
          state.queue.pop_front();
        }
        get_opts.sop_classes = offer(state, classes, mine);
      }
      const bool guessed = classes.count("") != 0 && !get_opts.sop_classes.empty();
      std::set<std::string> wanted(mine.begin(), mine.end());
      std::set<std::string> failed_here;
      get_observer observer;
      // Under state.mutex: whether `uid` is one of this batch's, not yet stored; if so, counted.
      auto first_arrival = [&](const std::string& uid, const std::string& path, std::uint64_t bytes) {
        if (wanted.count(uid) == 0 || state.stored.count(uid) != 0) return false;
        state.stored[uid] = path;
        state.progress.done++;
        state.progress.bytes += bytes;
        if (options.progress) options.progress(state.progress);
        return true;
      };
      if (options.received) {
        observer.received = [&](const std::string& uid, std::string part10) {
          std::lock_guard lock(state.mutex);
          if (state.progress.bytes + part10.size() > options.max_memory_bytes) {
            if (!state.too_large)
              state.too_large = fail(errc::too_large, "the series' instances exceed the " +
                                                          std::to_string(options.max_memory_bytes >> 20) +
                                                          " MiB received into memory at most");
            stop_flag = true;
            return false;
          }
          if (first_arrival(uid, "", part10.size())) options.received(uid, std::move(part10));
          return true;  // one not asked for (or twice) is dropped
        };
      } else {
        observer.stored = [&](const std::string& uid, const std::string& path, std::uint64_t bytes) {
          std::lock_guard lock(state.mutex);
          if (first_arrival(uid, path, bytes)) {
            if (options.arrived) options.arrived(path);
            return;
          }
          std::error_code ec;  // not asked for (or twice): not ours to keep
          if (auto at = state.stored.find(uid); at == state.stored.end() || at->second != path)
            std::filesystem::remove(path, ec);
        };
      }
      observer.store_failed = [&](const std::string& uid) { failed_here.insert(uid); };
      get_opts.stop = &stop_flag;
      get_opts.observer = &observer;
      std::string list;
      for (const auto& uid : mine) list += (list.empty() ? "" : "\\") + uid;
      auto got = client.get({query_level::image,
                             {{"StudyInstanceUID", study_uid},
                              {"SeriesInstanceUID", series_uid},
                              {"SOPInstanceUID", list}}},
                            dest_dir, get_opts);
      std::lock_guard lock(state.mutex);
      if (got && classes.count("") != 0)
        for (const auto& c : got->sop_classes) state.learned.insert(c);
      std::vector<std::string> missing;
      for (const auto& uid : mine)
        if (state.stored.count(uid) == 0) missing.push_back(uid);
      if (missing.empty()) continue;
      error e = got ? fail(errc::unavailable, "the PACS sent " + std::to_string(mine.size() - missing.size()) +
                                                  " of " + std::to_string(mine.size()) + " requested objects")
                    : got.err();
      if (e.code == errc::cancelled || state.too_large) return;
      // Configuration and permission problems, and an object that is not DICOM, will not heal by
      // retrying.
      const bool retryable =
          e.code != errc::permission_denied && e.code != errc::invalid_config && e.code != errc::malformed_input;
      for (const auto& uid : missing) {
        // A guessed class that did not bring the object: ask again with the fallback list,
        // without spending an attempt.
        if (guessed && class_of.at(uid).empty() && state.guess_failed.insert(uid).second) {
          state.queue.push_back(uid);
          continue;
        }
        // Objects that never arrived because another object of the batch failed to store are
        // re-queued without spending one of their attempts.
        if (!failed_here.empty() && failed_here.count(uid) == 0) {
          state.queue.push_back(uid);
          continue;
        }
        if (options.on_attempt_failed) options.on_attempt_failed(uid, e);
        spdlog::warn("event=pacs_instance_failed attempt={} code={}", state.attempts[uid] + 1, name_of(e.code));
        if (retryable && state.attempts[uid]++ < options.retries) {
          state.retried++;
          state.queue.push_back(uid);
        } else if (!state.failure) {
          state.failure = e;
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  if (state.too_large) return std::move(*state.too_large);
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
  for (const auto& uid : uids) report.files.push_back(options.received ? uid : state.stored[uid]);
  return report;
}

}  // namespace dm2::pacs
