#include "ingest_service.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "dm2/crypto/hash.hpp"
#include "db_cursor_store.hpp"
#include "series_pipeline.hpp"
#include "series_restoration.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

namespace {

// A failure the next run may not meet (the PACS is back, the disk has room): the sync stops
// there and keeps the series for the next run. Anything else is the series' own fault (a
// corrupt object, inconsistent geometry): it is reported and the sync moves past it.
bool transient(errc code) {
  return code == errc::unavailable || code == errc::timeout || code == errc::io_error || code == errc::cancelled ||
         code == errc::permission_denied || code == errc::storage_failure;
}

// "YYYYMMDD" `days` days before today, in the machine's local time (StudyDate is the hospital's
// local date).
std::string study_date_days_ago(unsigned days) {
  const std::time_t then = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
  std::tm parts{};
  localtime_r(&then, &parts);
  char out[16];
  std::strftime(out, sizeof out, "%Y%m%d", &parts);
  return out;
}

}  // namespace

struct ingest_service::impl {
  impl(const node_config& c, storage::database& d, overlay_service& o, object_store store, const site_identity& id,
       metrics& m)
      : config(c),
        db(d),
        overlay(o),
        objects(std::move(store)),
        cache(std::make_shared<object_cache>(objects, c.object_cache_bytes)),
        links(d, id.storage_key),
        cursor(d),
        stats(m) {
    uid_secret = crypto::hmac_sha256(id.storage_key, "dm2 de-identification uid secret");
  }

  const node_config& config;
  storage::database& db;
  overlay_service& overlay;
  object_store objects;
  std::shared_ptr<object_cache> cache;
  series_links links;
  db_cursor_store cursor;
  metrics& stats;
  std::string uid_secret;
  ingest_book book;

  std::mutex mutex;
  std::condition_variable wake;
  bool run_requested = false;  // book.begin() done, the worker has not taken it yet
  std::string requested_rescan;  // rescan_since of the requested run ("" = incremental)
  std::jthread worker;
  std::stop_source restores_stop;  // cancels re-assemblies under way when the node stops

  // Series being re-assembled, by LFN: a reader of one joins the re-assembly under way. Each
  // runs on a thread of its own (its future here), waited for at stop.
  std::mutex restoring_mutex;
  std::map<std::string, std::shared_ptr<series_restoration>> restoring;
  std::vector<std::future<void>> restorations;

  fs::path scratch_root() const { return config.data_dir / "ingest-scratch"; }

  void loop(std::stop_token stop) {
    auto next_scheduled = std::chrono::steady_clock::now() + config.sync_period;
    // The incremental sync never looks behind its cursor (docs/ingest.md): a scheduled run this
    // often is a re-scan of the last days instead, so late images are found without an operator.
    auto next_rescan = std::chrono::steady_clock::now() + config.rescan_period;
    while (!stop.stop_requested()) {
      std::string rescan;
      {
        std::unique_lock lock(mutex);
        auto due = [&] { return run_requested || stop.stop_requested(); };
        if (config.sync_period.count() > 0)
          wake.wait_until(lock, next_scheduled, due);
        else
          wake.wait(lock, due);
        if (stop.stop_requested()) return;
        if (!run_requested) {
          // The schedule is due; an operator's run under way would have been taken already.
          const bool rescan_due = config.rescan_period.count() > 0 && std::chrono::steady_clock::now() >= next_rescan;
          if (!book.begin(new_run_id(), rescan_due ? "schedule-rescan" : "schedule")) continue;
          if (rescan_due) {
            requested_rescan = study_date_days_ago(config.rescan_days);
            next_rescan = std::chrono::steady_clock::now() + config.rescan_period;
          }
          run_requested = true;
        }
        run_requested = false;
        rescan = std::exchange(requested_rescan, std::string());
      }
      run(stop, rescan);
      next_scheduled = std::chrono::steady_clock::now() + config.sync_period;
    }
  }

  pipeline_context context(std::stop_token stop) {
    return {&config, &overlay, &objects, &links, scratch_root(), uid_secret, &stats, &book, std::move(stop)};
  }

  // The re-assembly of the evicted series `lfn`: the one under way, or one started now; nullptr
  // when `on_disk` finds it placed meanwhile.
  result<std::shared_ptr<series_restoration>> restoration_of(const std::string& lfn,
                                                             const std::function<bool()>& on_disk) {
    std::lock_guard lock(restoring_mutex);
    if (auto under_way = restoring.find(lfn); under_way != restoring.end()) return under_way->second;
    if (on_disk()) return std::shared_ptr<series_restoration>{};
    if (!config.pacs_configured)
      return fail(errc::unavailable, "the sealed files of series " + lfn + " are gone and no [pacs] is configured");
    auto key = overlay.owned_key(lfn);
    if (!key) return fail(errc::io_error, "series " + lfn + " cannot be re-assembled: its key is missing");
    auto link = links.read_link(lfn, key->secret);
    if (!link) return std::move(link).err();
    if (!*link) return fail(errc::io_error, "series " + lfn + " cannot be re-assembled: its link is missing");
    auto lookup = links.find((*link)->series_uid);
    if (!lookup) return std::move(lookup).err();
    if (!*lookup || (*lookup)->lfn_hex != lfn)
      return fail(errc::io_error, "series " + lfn + " has no lookup entry: it cannot be re-assembled");
    auto r = std::make_shared<series_restoration>((*lookup)->version, (*link)->manifest);
    restoring.emplace(lfn, r);
    std::erase_if(restorations, [](const std::future<void>& f) {
      return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    restorations.push_back(std::async(std::launch::async, [this, lfn, r, key = std::move(*key), link = std::move(**link),
                                                           lookup = std::move(**lookup)]() mutable {
      auto started = std::chrono::steady_clock::now();
      auto restored = restore_series(context(restores_stop.get_token()), lfn, key.secret, link, lookup, *r);
      std::fill(key.secret.begin(), key.secret.end(), '\0');
      stats.observe("dm2_ingest_stage_seconds", "stage=\"restore\"",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      stats.increment("dm2_objects_restored_total", restored ? "result=\"done\"" : "result=\"failed\"");
      if (restored) {
        cache->placed(lfn, *restored);
      } else {
        spdlog::warn("event=series_restore_failed lfn={} code={} reason=\"{}\"", lfn, name_of(restored.err().code),
                     restored.err().message);
        r->failed(restored.err());
      }
      std::lock_guard done(restoring_mutex);
      restoring.erase(lfn);
    }));
    return r;
  }

  static std::string new_run_id() { return crypto::to_hex(crypto::random_bytes(8)); }

  void run(std::stop_token stop, const std::string& rescan_since) {
    spdlog::info("event=ingest_run_started rescan_since={}", rescan_since.empty() ? "-" : rescan_since);
    pipeline_context ctx = context(stop);
    pacs::sync_options options;
    options.since = config.sync_since;
    options.rescan_since = rescan_since;
    // The "list" stage: the sync's study- and series-level C-FINDs, until the first series.
    auto listing_started = std::chrono::steady_clock::now();
    bool listed = false;
    auto synced = pacs::sync_site(
        config.pacs, cursor,
        [&](const pacs::series_ref& ref) -> status {
          if (!listed) {
            listed = true;
            stats.observe("dm2_ingest_stage_seconds", "stage=\"list\"",
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - listing_started).count());
          }
          if (stop.stop_requested()) return fail(errc::cancelled, "the node is stopping");
          book.seen();
          auto r = ingest_series(ctx, ref);
          if (r.failure) {
            stats.increment("dm2_ingest_series_total", "result=\"failed\"");
            auto code = r.failure->why.code;
            book.failed({r.failure->lfn, r.failure->stage, r.failure->why.message});
            if (transient(code)) return std::move(r.failure->why);
            return {};
          }
          if (r.outcome == series_outcome::unchanged) {
            book.unchanged(r.lfn);
            stats.increment("dm2_ingest_series_total", "result=\"unchanged\"");
          } else {
            stats.increment("dm2_ingest_series_total", "result=\"indexed\"");
            cache->placed(r.lfn, r.version);
          }
          return {};
        },
        options);
    std::string error = synced ? std::string{} : synced.err().message;
    book.finish(error);
    auto report = book.report(true, 0);
    if (report.last) {
      stats.increment("dm2_ingest_bytes_total", "kind=\"fetched\"", static_cast<double>(report.last->counts.bytes_fetched));
      stats.increment("dm2_ingest_bytes_total", "kind=\"stored\"", static_cast<double>(report.last->counts.bytes_stored));
    }
    stats.increment("dm2_ingest_runs_total", synced ? "result=\"done\"" : "result=\"failed\"");
    if (synced)
      spdlog::info("event=ingest_run_done studies={} series={} skipped={}", synced->studies, synced->handed_over,
                   synced->skipped);
    else
      spdlog::warn("event=ingest_run_failed code={} reason=\"{}\"", name_of(synced.err().code), synced.err().message);
  }
};

result<std::unique_ptr<ingest_service>> ingest_service::create(const node_config& config, const site_identity& identity,
                                                               storage::database& db, overlay_service& overlay,
                                                               metrics& stats) {
  auto objects = object_store::open(config.data_dir / "objects");
  if (!objects) return std::move(objects).err();
  // A crash mid-series leaves plaintext scratch and sealed files no commit names: both go now.
  std::error_code ec;
  fs::remove_all(config.data_dir / "ingest-scratch", ec);
  // The committed content of a series is its newest version at or below its record's version
  // (a diagnosis raises the record's version alone); newer ones were never committed.
  auto swept = objects->sweep([&](const std::string& lfn, std::uint64_t version) {
    auto owned = overlay.owned_version(lfn);
    return owned != 0 && objects->newest_version(lfn, owned) == version;
  });
  if (swept) spdlog::info("event=ingest_swept directories={}", swept);
  stats.describe("dm2_ingest_series_total", "counter", "Series the ingest finished, by result.");
  stats.describe("dm2_ingest_bytes_total", "counter", "Bytes fetched from the PACS and sealed into the object store.");
  stats.describe("dm2_ingest_runs_total", "counter", "Ingest runs, by result.");
  stats.describe("dm2_ingest_stage_seconds", "histogram", "Seconds spent in each ingest stage, per series (list: per run).");
  stats.describe("dm2_objects_restored_total", "counter",
                 "Evicted series re-assembled from the PACS when read again, by result.");
  stats.describe("dm2_objects_evicted_total", "counter", "Series whose sealed files the object cache evicted.");
  stats.describe("dm2_object_store_bytes", "gauge", "Sealed bytes in the object store.");
  auto p = std::make_unique<impl>(config, db, overlay, std::move(*objects), identity, stats);
  p->cache->scan();
  stats.gauge_callback("dm2_object_store_bytes", [cache = p->cache] { return double(cache->bytes()); });
  stats.gauge_callback("dm2_objects_evicted_total", [cache = p->cache] { return double(cache->evictions()); });
  return std::unique_ptr<ingest_service>(new ingest_service(std::move(p)));
}

ingest_service::ingest_service(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

ingest_service::~ingest_service() { stop(); }

void ingest_service::start() {
  if (!impl_->config.pacs_configured) return;
  if (impl_->config.ingest_on_start) (void)start_run("start");
  impl_->worker = std::jthread([raw = impl_.get()](std::stop_token stop) { raw->loop(stop); });
}

void ingest_service::stop() {
  impl_->restores_stop.request_stop();
  std::vector<std::future<void>> restorations;
  {
    std::lock_guard lock(impl_->restoring_mutex);
    restorations.swap(impl_->restorations);
  }
  for (auto& r : restorations) r.wait();
  if (!impl_->worker.joinable()) return;
  impl_->worker.request_stop();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->wake.notify_all();
  }
  impl_->worker.join();
}

result<std::string> ingest_service::start_run(const std::string& trigger, const std::string& rescan_since) {
  if (!impl_->config.pacs_configured) return fail(errc::unavailable, "no [pacs] is configured: nothing to ingest");
  if (!rescan_since.empty() &&
      (rescan_since.size() != 8 || rescan_since.find_first_not_of("0123456789") != std::string::npos))
    return fail(errc::invalid_argument, "rescan_since must be a date YYYYMMDD");
  std::lock_guard lock(impl_->mutex);
  auto id = impl::new_run_id();
  if (!impl_->book.begin(id, trigger)) return fail(errc::conflict, "an ingest run is under way");
  impl_->run_requested = true;
  impl_->requested_rescan = rescan_since;
  impl_->wake.notify_all();
  return id;
}

std::optional<std::string> ingest_service::patient_of(const std::string& lfn_hex) const {
  auto key = impl_->overlay.owned_key(lfn_hex);
  if (!key) return std::nullopt;
  auto link = impl_->links.read_link(lfn_hex, key->secret);
  if (!link) {
    spdlog::warn("event=nominative_link_unreadable lfn={} code={}", lfn_hex, name_of(link.err().code));
    return std::nullopt;
  }
  if (!*link || (*link)->patient_id.empty()) return std::nullopt;
  return impl_->links.patient_ref((*link)->patient_id);
}

result<std::optional<nominative_link>> ingest_service::nominative_of(const std::string& lfn_hex) const {
  auto key = impl_->overlay.owned_key(lfn_hex);
  if (!key) return std::optional<nominative_link>{};
  return impl_->links.read_link(lfn_hex, key->secret);
}

result<std::optional<std::string>> ingest_service::lfn_of_original(const std::string& study_uid,
                                                                   const std::string& series_uid) const {
  auto lookup = impl_->links.find(series_uid);
  if (!lookup) return std::move(lookup).err();
  if (!*lookup) return std::optional<std::string>{};
  const auto& lfn = (*lookup)->lfn_hex;
  if (!study_uid.empty()) {
    auto link = nominative_of(lfn);
    if (!link) return std::move(link).err();
    if (!*link || (*link)->study_uid != study_uid) return std::optional<std::string>{};
  }
  return std::optional<std::string>{lfn};
}

std::string ingest_service::patient_ref(const std::string& patient_id) const {
  return impl_->links.patient_ref(patient_id);
}

result<ingest_service::stored_series> ingest_service::stored(const std::string& lfn_hex) const {
  return read(lfn_hex, false);
}

result<ingest_service::stored_series> ingest_service::reading(const std::string& lfn_hex) const {
  return read(lfn_hex, true);
}

result<ingest_service::stored_series> ingest_service::read(const std::string& lfn_hex, bool while_restoring) const {
  auto owned = impl_->overlay.owned_version(lfn_hex);
  if (owned == 0) return fail(errc::not_found, "this site does not own series " + lfn_hex);
  auto lease = impl_->cache->pin(lfn_hex);
  auto at = impl_->objects.newest_version(lfn_hex, owned);
  if (!at) {
    auto restoring = impl_->restoration_of(lfn_hex, [&] { return (at = impl_->objects.newest_version(lfn_hex, owned)).has_value(); });
    if (!restoring) return std::move(restoring).err();
    if (auto& r = *restoring) {
      if (auto s = r->started(); !s) return std::move(s).err();
      if (while_restoring && !r->manifest().instances.empty()) return stored_series{r->version(), r->files(), std::move(lease)};
      auto placed = r->finished();
      if (!placed) return std::move(placed).err();
      at = *placed;
    }
  }
  auto files = impl_->objects.list_series(lfn_hex, *at);
  if (!files) return std::move(files).err();
  return stored_series{*at, std::move(*files), std::move(lease)};
}

std::optional<std::uint64_t> ingest_service::sealed_version(const std::string& lfn_hex) const {
  auto owned = impl_->overlay.owned_version(lfn_hex);
  if (owned == 0) return std::nullopt;
  return impl_->objects.newest_version(lfn_hex, owned);
}

ingest_report ingest_service::report() const {
  return impl_->book.report(impl_->config.pacs_configured, impl_->config.sync_period.count());
}

}  // namespace dm2::node
