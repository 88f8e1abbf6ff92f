#include "series_pipeline.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>

#include "../similarity/signature.hpp"
#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/header_fields.hpp"
#include "dm2/pacs/volume.hpp"
#include "index_attributes.hpp"
#include "series_fetch.hpp"

namespace dm2::node {
namespace fs = std::filesystem;

namespace {

// Removes the plaintext scratch directory however the series ends, or earlier by remove().
struct scratch_guard {
  fs::path dir;
  void remove() const {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  ~scratch_guard() { remove(); }
};

// The SOP Instance UIDs of fetched files (their names).
std::vector<std::string> stems_of(const std::vector<fs::path>& files) {
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.stem().string());
  return names;
}

// The series' instance fingerprint: SHA-256 of its sorted SOP Instance UIDs, so a series that
// gained or lost instances is told apart from one seen before.
std::string fingerprint_of(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string all;
  for (const auto& n : names) all += n + "\n";
  return crypto::to_hex(crypto::sha256(all));
}

class stage_clock {
 public:
  stage_clock(metrics* stats, std::string stage) : stats_(stats), stage_(std::move(stage)) {}
  ~stage_clock() {
    if (!stats_) return;
    auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    stats_->observe("dm2_ingest_stage_seconds", "stage=\"" + stage_ + "\"", s);
  }

 private:
  metrics* stats_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

struct run_state {
  const pipeline_context& c;
  const pacs::series_ref& ref;
  series_result out;
  series_progress progress;

  void stage(const std::string& name) {
    progress.stage = name;
    c.book->progress(progress);
  }
  series_result failed(const std::string& stage, error e) {
    spdlog::warn("event=ingest_series_failed lfn={} stage={} code={} reason=\"{}\"", out.lfn, stage,
                 name_of(e.code), e.message);
    out.failure = series_failed{stage, out.lfn, std::move(e)};
    return std::move(out);
  }
};

constexpr const char* volume_file = object_store::volume_name;

// A series re-assembled whole in memory at most (its received originals; the volume is apart):
// above half of it (by the manifest's de-identified sizes), through scratch files instead.
constexpr std::uint64_t restore_in_memory_bytes = std::uint64_t{512} << 20;

// One instance of a re-assembly as it arrives: a fetched file, or (file empty) its bytes
// received into memory.
struct arrival {
  std::string uid;  // its SOP Instance UID
  fs::path file;
  std::string part10;
};

// What a re-assembly's fetch brought: the files (none when received into memory) and the SOP
// Instance UIDs.
struct fetched_uids {
  std::vector<fs::path> files;
  std::vector<std::string> uids;
};

// The de-identified file of the instance at slice `i` (000000.dcm); its sealed file's name
// (object_store::instance_name) adds ".dm2s".
std::string instance_file(std::size_t i) { return fs::path(object_store::instance_name(i)).stem().string(); }

// The de-identified files of an assembled series (slice order), written under `scratch`; the
// first file's record of what de-identification removed.
struct deidentified {
  std::vector<fs::path> files;
  std::string removed_json;
};

// A volume's NIfTI file as it is sealed, from memory (no plaintext volume on disk): its header,
// then the voxels where they lie.
struct nifti_parts {
  std::string header;
  std::string_view voxels;
  std::uint64_t size() const { return header.size() + voxels.size(); }
};

result<nifti_parts> nifti_of(const pacs::volume& v) {
  auto header = pacs::nifti_header(v);
  if (!header) return std::move(header).err();
  return nifti_parts{std::move(*header), pacs::voxel_bytes(v)};
}

status seal_volume(const pipeline_context& c, object_store::staging& into, const nifti_parts& nifti,
                   const std::string& key, const std::string& lfn, std::uint64_t version) {
  return c.objects->seal_bytes_into(into, volume_file, key, lfn, version, {nifti.header, nifti.voxels});
}

result<deidentified> deidentify_into(const pipeline_context& c, const pacs::volume& volume, const fs::path& scratch) {
  pacs::deid_options deid;
  deid.uid_secret = c.uid_secret;
  deidentified out;
  std::error_code ec;
  fs::create_directories(scratch / "deid", ec);
  for (std::size_t i = 0; i < volume.files.size(); ++i) {
    auto file = scratch / "deid" / instance_file(i);
    auto r = pacs::deidentify_file(volume.files[i], file, deid);
    if (!r) return std::move(r).err();
    if (i == 0) out.removed_json = std::move(r->nominative_json);
    out.files.push_back(file);
  }
  return out;
}

// Places a sealed staging directory at <lfn>/<version> (synced, or not: place_unsynced) and
// returns its sealed bytes; on error removes it and anything placed.
result<std::uint64_t> place_staged(const pipeline_context& c, const object_store::staging& staged, const std::string& lfn,
                                   std::uint64_t version, bool synced) {
  auto placed = synced ? c.objects->place(staged, lfn, version) : c.objects->place_unsynced(staged, lfn, version);
  if (!placed) {
    c.objects->discard(staged);
    c.objects->remove(lfn, version);
    return std::move(placed).err();
  }
  return staged.bytes;
}

// Seals the de-identified files and the volume (from memory) under the series key into a
// staging directory, removes the plaintext scratch (its files, deleted before the sync, are never
// written back to the disk: the sync then flushes the sealed bytes only) and places the staging
// directory at <lfn>/<version>. Returns the sealed bytes. On error nothing is left.
result<std::uint64_t> seal_and_place(const pipeline_context& c, const deidentified& clean, const nifti_parts& nifti,
                                     const std::string& key, const std::string& lfn, std::uint64_t version,
                                     const scratch_guard& scratch) {
  auto staged = c.objects->stage();
  if (!staged) return std::move(staged).err();
  auto discarded = [&](status s) {
    if (!s) c.objects->discard(*staged);
    return s;
  };
  for (const auto& f : clean.files)
    if (auto s = discarded(c.objects->seal_into(*staged, f.filename().string() + ".dm2s", key, lfn, version, f)); !s)
      return s.err();
  if (auto s = discarded(seal_volume(c, *staged, nifti, key, lfn, version)); !s) return s.err();
  scratch.remove();
  return place_staged(c, *staged, lfn, version, true);
}

}  // namespace

series_result ingest_series(const pipeline_context& c, const pacs::series_ref& ref) {
  run_state st{c, ref, {}, {}};
  std::optional<stage_clock> lookup_clock(std::in_place, c.stats, "lookup");
  auto known = c.links->find(ref.series_uid);
  lookup_clock.reset();
  if (!known) return st.failed("lookup", std::move(known).err());
  // A series seen before keeps its LFN (and its key): a changed series is a new version of it.
  st.out.lfn = *known ? (*known)->lfn_hex : crypto::to_hex(crypto::random_bytes(storage::lfn_size));
  const std::string& lfn = st.out.lfn;
  st.progress.lfn = lfn;
  if (*known && !ref.instances.empty() && ref.instances == std::to_string((*known)->instances)) {
    st.out.outcome = series_outcome::unchanged;
    return std::move(st.out);
  }

  scratch_guard scratch{c.scratch_root / crypto::to_hex(crypto::random_bytes(8))};
  st.stage("fetch");
  fetched_series fetched;
  {
    stage_clock t(c.stats, "fetch");
    auto f = fetch_one_series(c.config->pacs, c.config->retrieve == "move", ref, scratch.dir / "pacs", c.stop,
                              [&](const pacs::fetch_progress& p) {
                                st.progress.instances_done = p.done;
                                st.progress.instances_total = p.total;
                                st.progress.bytes = p.bytes;
                                c.book->progress(st.progress);
                              });
    if (!f) return st.failed("fetch", std::move(f).err());
    fetched = std::move(*f);
  }
  c.book->fetched(fetched.bytes);
  auto fingerprint = fingerprint_of(stems_of(fetched.files));
  if (*known && (*known)->fingerprint == fingerprint) {
    st.out.outcome = series_outcome::unchanged;
    return std::move(st.out);
  }

  st.stage("assemble");
  pacs::volume volume;
  {
    stage_clock t(c.stats, "assemble");
    auto v = pacs::assemble_series(fetched.files);
    if (!v) return st.failed("assemble", std::move(v).err());
    volume = std::move(*v);
  }

  st.stage("signature");
  std::string signature;
  {
    stage_clock t(c.stats, "signature");
    auto samples = similarity::signature_of(volume);
    if (!samples) return st.failed("signature", std::move(samples).err());
    signature = similarity::signature_bytes(*samples);
  }

  // The index attributes and the nominative link's keys come from the original header; only
  // the index class's fields (and an age band, never the birth date) are kept.
  std::vector<std::string> keywords = attribute_keywords();
  for (const char* k : {"PatientID", "PatientName", "AccessionNumber"}) keywords.emplace_back(k);
  std::optional<stage_clock> read_clock(std::in_place, c.stats, "read");
  auto header = pacs::read_header_fields(volume.files.front(), keywords);
  read_clock.reset();
  if (!header) return st.failed("assemble", std::move(header).err());

  st.stage("deidentify");
  deidentified clean;
  nifti_parts nifti;
  {
    stage_clock t(c.stats, "deidentify");
    auto d = deidentify_into(c, volume, scratch.dir);
    if (!d) return st.failed("deidentify", std::move(d).err());
    clean = std::move(*d);
    auto n = nifti_of(volume);
    if (!n) return st.failed("deidentify", std::move(n).err());
    nifti = std::move(*n);
  }
  series_manifest manifest;
  {
    std::error_code ec;
    for (std::size_t i = 0; i < clean.files.size(); ++i)
      manifest.instances.emplace_back(fs::path(volume.files[i]).stem().string(), fs::file_size(clean.files[i], ec));
    manifest.volume_bytes = nifti.size();
    if (ec) return st.failed("deidentify", fail(errc::io_error, "cannot size the de-identified files: " + ec.message()));
  }

  st.stage("encrypt");
  auto version = c.overlay->owned_version(lfn) + 1;
  std::optional<dht::owned_key> new_key;
  std::string series_key;
  if (auto owned = c.overlay->owned_key(lfn)) {
    series_key = owned->secret;
  } else {
    series_key = crypto::generate_aead_key();
    auto k = dht::make_owned_key(lfn, series_key, c.config->share_threshold, c.config->share_count);
    if (!k) return st.failed("encrypt", std::move(k).err());
    new_key = std::move(*k);
  }
  std::uint64_t sealed_bytes = 0;
  {
    stage_clock t(c.stats, "encrypt");
    auto sealed = seal_and_place(c, clean, nifti, series_key, lfn, version, scratch);
    if (!sealed) return st.failed("encrypt", std::move(sealed).err());
    sealed_bytes = *sealed;
  }

  st.stage("commit");
  storage::index_record record;
  record.lfn = *crypto::from_hex(lfn);
  record.attributes = attributes_from(*header);
  record.signature = std::move(signature);
  storage::transaction with;
  c.links->put_lookup(with, ref.series_uid, {lfn, version, fetched.files.size(), fingerprint});
  nominative_link link{(*header)["PatientID"], (*header)["PatientName"], (*header)["AccessionNumber"], ref.study_uid,
                       ref.series_uid, clean.removed_json, std::move(manifest)};
  if (auto s = c.links->put_link(with, lfn, series_key, link); !s) {
    c.objects->remove(lfn, version);
    return st.failed("commit", s.err());
  }
  {
    stage_clock t(c.stats, "commit");
    auto published = c.overlay->publish(std::move(record),
                                        {0, "node", "ingest", lfn, "committed",
                                         "version=" + std::to_string(version) +
                                             " instances=" + std::to_string(fetched.files.size())},
                                        std::move(with), std::move(new_key));
    if (!published) {
      c.objects->remove(lfn, version);
      return st.failed("commit", std::move(published).err());
    }
  }
  st.out.version = version;
  c.book->indexed(lfn, sealed_bytes);
  spdlog::info("event=series_ingested lfn={} version={} instances={} sealed_bytes={}", lfn, version,
               fetched.files.size(), sealed_bytes);
  return std::move(st.out);
}

result<std::uint64_t> restore_series(const pipeline_context& c, const std::string& lfn, const std::string& series_key,
                                    const nominative_link& link, const series_lookup& lookup, series_restoration& into) {
  const auto version = lookup.version;
  const auto& manifest = link.manifest.instances;
  std::uint64_t manifest_bytes = 0;
  for (const auto& [uid, bytes] : manifest) manifest_bytes += bytes;
  // Received into memory (docs/ingest.md, "Cache") when the manifest says how big the series is
  // and C-GET brings it: only the sealed files are written. Half the cap, as the originals may
  // be larger than their de-identified forms (the fetch refuses more than the cap).
  const bool in_memory = !manifest.empty() && c.config->retrieve != "move" && 2 * manifest_bytes <= restore_in_memory_bytes;
  scratch_guard scratch{c.scratch_root / crypto::to_hex(crypto::random_bytes(8))};
  auto staged = c.objects->stage();
  if (!staged) return std::move(staged).err();
  into.staging_at(staged->dir);
  auto started = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point& since) {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count();
    since = now;
    return ms;
  };
  // Each instance de-identified and sealed under its slice's name, its plaintext gone once sealed;
  // one received into memory is kept (by slice) for the volume.
  pacs::deid_options deid;
  deid.uid_secret = c.uid_secret;
  {
    std::error_code ec;  // a failure shows at the first de-identified file
    fs::create_directories(scratch.dir / "deid", ec);
  }
  std::vector<std::string> originals(in_memory ? manifest.size() : 0);
  auto seal_instance = [&](arrival& a, std::size_t i) -> status {
    std::error_code ec;
    auto name = object_store::instance_name(i);
    auto file = scratch.dir / "deid" / instance_file(i);
    std::string clean;
    auto r = a.file.empty() ? pacs::deidentify_part10(a.part10, deid, clean) : pacs::deidentify_file(a.file, file, deid);
    if (!r) return std::move(r).err();
    // A de-identified size other than the manifest's: readers were promised other bytes.
    if (!manifest.empty() && (a.file.empty() ? clean.size() : fs::file_size(file, ec)) != manifest[i].second)
      return fail(errc::conflict, "a re-assembled instance of series " + lfn + " differs from its indexed version");
    auto sealed = a.file.empty() ? c.objects->seal_bytes_into(*staged, name, series_key, lfn, version, {clean})
                                 : c.objects->seal_into(*staged, name, series_key, lfn, version, file);
    if (!sealed) return sealed;
    if (a.file.empty()) originals[i] = std::move(a.part10);
    else fs::remove(file, ec);
    into.sealed(name);
    return {};
  };
  auto failed = [&](error why) -> result<std::uint64_t> {
    c.objects->discard(*staged);
    return why;
  };

  // The fetch on a thread of its own; with a manifest, each instance is sealed here as it
  // arrives, so readers get the first ones while the PACS still sends the rest. It returns the
  // fetched files (in memory: none) and SOP Instance UIDs.
  std::map<std::string, std::size_t> slice_of;
  for (std::size_t i = 0; i < manifest.size(); ++i) slice_of.emplace(manifest[i].first, i);
  std::mutex arrivals_mutex;
  std::condition_variable arrival_cv;
  std::deque<arrival> arrivals;
  bool fetch_over = false;
  std::chrono::steady_clock::time_point received_at;  // the fetch's end: the last instance in
  std::stop_source stop_fetch;
  std::stop_callback node_stopping(c.stop, [&] { stop_fetch.request_stop(); });
  auto fetching = std::async(std::launch::async, [&]() -> result<fetched_uids> {
    auto arrived = [&](arrival a) {
      std::lock_guard lock(arrivals_mutex);
      arrivals.push_back(std::move(a));
      arrival_cv.notify_one();
    };
    result<fetched_uids> out = fetched_uids{};
    if (in_memory) {
      pacs::fetch_options o;
      o.stop = stop_fetch.get_token();
      o.max_memory_bytes = restore_in_memory_bytes;
      o.received = [&](const std::string& uid, std::string part10) { arrived({uid, {}, std::move(part10)}); };
      auto f = pacs::fetch_series(c.config->pacs, link.study_uid, link.series_uid, {}, o);
      if (f) out->uids = std::move(f->files);
      else out = std::move(f).err();
    } else {
      pacs::series_ref ref;
      ref.study_uid = link.study_uid;
      ref.series_uid = link.series_uid;
      auto f = fetch_one_series(c.config->pacs, c.config->retrieve == "move", ref, scratch.dir / "pacs",
                                stop_fetch.get_token(), {}, [&](const fs::path& p) { arrived({p.stem().string(), p, {}}); });
      if (f) *out = {std::move(f->files), stems_of(f->files)};
      else out = std::move(f).err();
    }
    std::lock_guard lock(arrivals_mutex);
    fetch_over = true;
    received_at = std::chrono::steady_clock::now();
    arrival_cv.notify_one();
    return out;
  });
  status streamed;
  while (true) {
    arrival next;
    {
      std::unique_lock lock(arrivals_mutex);
      arrival_cv.wait(lock, [&] { return !arrivals.empty() || fetch_over; });
      if (arrivals.empty()) break;
      next = std::move(arrivals.front());
      arrivals.pop_front();
    }
    // An instance the manifest does not list is not served; the fingerprint below decides.
    auto at = slice_of.find(next.uid);
    if (!streamed || at == slice_of.end()) continue;
    streamed = seal_instance(next, at->second);
    if (!streamed) stop_fetch.request_stop();
  }
  auto fetched = fetching.get();
  // A sealing failure stops the fetch: then its own error says why, not the fetch's "cancelled".
  if (!fetched && (streamed || fetched.err().code != errc::cancelled)) return failed(std::move(fetched).err());
  if (!streamed) return failed(std::move(streamed).err());
  auto received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(received_at - started).count();
  auto fetch_ms = ms_since(started);
  // Other instances than at ingest: the bytes would not be the indexed version's.
  if (fingerprint_of(fetched->uids) != lookup.fingerprint)
    return failed(fail(errc::conflict, "the PACS now holds other instances of series " + lfn +
                                           " than its indexed version; the next ingest run makes a new version"));
  std::vector<pacs::dicom_in_memory> held;
  for (std::size_t i = 0; i < originals.size(); ++i) held.push_back({manifest[i].first, originals[i]});
  auto volume = in_memory ? pacs::assemble_series_in_memory(held) : pacs::assemble_series(fetched->files);
  held.clear();
  originals.clear();
  if (!volume) return failed(std::move(volume).err());
  bool in_order = manifest.empty() || manifest.size() == volume->files.size();
  for (std::size_t i = 0; in_order && i < manifest.size(); ++i)
    in_order = (in_memory ? volume->files[i] : fs::path(volume->files[i]).stem().string()) == manifest[i].first;
  if (!in_order)
    return failed(fail(errc::conflict, "series " + lfn + " no longer assembles in its indexed slice order"));
  auto assemble_ms = ms_since(started);

  // The NIfTI volume (float voxels: two thirds of the sealed bytes) on a second thread; without
  // a manifest, the instances meanwhile, now that their order is known. With one, the readers
  // are still sending the last instances: the volume, which only the cache copy (and a volume
  // reader) waits for, yields the CPU to them (a lower priority for this thread alone).
  object_store::staging volume_part{staged->dir, 0};  // its own count: the threads share no state
  auto volume_sealed = std::async(std::launch::async, [&]() -> status {
    if (!manifest.empty()) (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    auto nifti = nifti_of(*volume);
    if (!nifti) return std::move(nifti).err();
    if (!manifest.empty() && nifti->size() != link.manifest.volume_bytes)
      return fail(errc::conflict, "the re-assembled volume of series " + lfn + " differs from its indexed version");
    if (auto s = seal_volume(c, volume_part, *nifti, series_key, lfn, version); !s) return s;
    into.sealed(volume_file);
    return {};
  });
  status instances_sealed;
  for (std::size_t i = 0; manifest.empty() && instances_sealed && i < volume->files.size(); ++i) {
    arrival a{{}, volume->files[i], {}};
    instances_sealed = seal_instance(a, i);
  }
  auto volume_done = volume_sealed.get();
  for (auto* s : {&instances_sealed, &volume_done})
    if (!*s) return failed(std::move(*s).err());
  staged->bytes += volume_part.bytes;
  scratch.remove();
  auto seal_ms = ms_since(started);
  std::uint64_t sealed_bytes = 0;
  auto placed = into.place([&]() -> result<fs::path> {
    auto bytes = place_staged(c, *staged, lfn, version, false);
    if (!bytes) return std::move(bytes).err();
    sealed_bytes = *bytes;
    return c.objects->series_dir(lfn, version);
  });
  if (!placed) return std::move(placed).err();
  spdlog::info(
      "event=series_restored lfn={} version={} instances={} sealed_bytes={} received_ms={} fetch_ms={} assemble_ms={} "
      "seal_ms={} streamed={} in_memory={}",
      lfn, version, fetched->uids.size(), sealed_bytes, received_ms, fetch_ms, assemble_ms, seal_ms, !manifest.empty(),
      in_memory);
  return version;
}

}  // namespace dm2::node
