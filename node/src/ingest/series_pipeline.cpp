#include "series_pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
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

// The series' instance fingerprint: SHA-256 of its sorted SOP Instance UIDs (the fetched file
// names), so a series that gained or lost instances is told apart from one seen before.
std::string fingerprint_of(const std::vector<fs::path>& files) {
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.stem().string());
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

constexpr const char* volume_file = "volume.nii.dm2s";

// The de-identified file of the instance at slice `i`; its sealed file adds ".dm2s".
std::string instance_file(std::size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "%06zu.dcm", i);
  return name;
}

// The de-identified files of an assembled series (slice order) and its NIfTI volume, written
// under `scratch`; the first file's record of what de-identification removed.
struct deidentified {
  std::vector<fs::path> files;
  fs::path volume;
  std::string removed_json;
};

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
  out.volume = scratch / "volume.nii";
  if (auto s = pacs::write_nifti(volume, out.volume); !s) return s.err();
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

// Seals the de-identified files and the volume under the series key into a staging directory,
// removes the plaintext scratch (its files, deleted before the sync, are never written back to
// the disk: the sync then flushes the sealed bytes only, a third of what the series wrote) and
// places the staging directory at <lfn>/<version>. Returns the sealed bytes. On error nothing
// is left.
result<std::uint64_t> seal_and_place(const pipeline_context& c, const deidentified& clean, const std::string& key,
                                     const std::string& lfn, std::uint64_t version, const scratch_guard& scratch) {
  auto staged = c.objects->stage();
  if (!staged) return std::move(staged).err();
  auto seal = [&](const std::string& name, const fs::path& file) -> status {
    if (auto s = c.objects->seal_into(*staged, name, key, lfn, version, file); !s) {
      c.objects->discard(*staged);
      return s;
    }
    return {};
  };
  for (const auto& f : clean.files)
    if (auto s = seal(f.filename().string() + ".dm2s", f); !s) return s.err();
  if (auto s = seal(volume_file, clean.volume); !s) return s.err();
  scratch.remove();
  return place_staged(c, *staged, lfn, version, true);
}

// The re-assembly's form of deidentify_into + seal_and_place (the same files, the same bytes),
// two at a time: the NIfTI volume (float voxels: two thirds of the sealed bytes) is written and
// sealed on a second thread while this one de-identifies and seals each instance, whose
// plaintext goes as soon as it is sealed; placed without a sync (the PACS still holds the
// series: object_store::place_unsynced). Returns the sealed bytes. On error nothing is left.
result<std::uint64_t> reassemble_and_place(const pipeline_context& c, const pacs::volume& volume, const std::string& key,
                                           const std::string& lfn, std::uint64_t version,
                                           const scratch_guard& scratch) {
  auto staged = c.objects->stage();
  if (!staged) return std::move(staged).err();
  std::error_code ec;
  fs::create_directories(scratch.dir / "deid", ec);
  object_store::staging volume_part{staged->dir, 0};  // its own count: the threads share no state
  auto volume_sealed = std::async(std::launch::async, [&]() -> status {
    auto file = scratch.dir / "volume.nii";
    if (auto s = pacs::write_nifti(volume, file); !s) return s;
    return c.objects->seal_into(volume_part, volume_file, key, lfn, version, file);
  });
  auto instances_sealed = [&]() -> status {
    pacs::deid_options deid;
    deid.uid_secret = c.uid_secret;
    for (std::size_t i = 0; i < volume.files.size(); ++i) {
      auto file = scratch.dir / "deid" / instance_file(i);
      if (auto r = pacs::deidentify_file(volume.files[i], file, deid); !r) return std::move(r).err();
      if (auto s = c.objects->seal_into(*staged, instance_file(i) + ".dm2s", key, lfn, version, file); !s) return s;
      fs::remove(file, ec);
    }
    return {};
  }();
  auto volume_done = volume_sealed.get();
  for (const auto* s : {&instances_sealed, &volume_done})
    if (!*s) {
      c.objects->discard(*staged);
      return s->err();
    }
  staged->bytes += volume_part.bytes;
  scratch.remove();
  return place_staged(c, *staged, lfn, version, false);
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
  auto fingerprint = fingerprint_of(fetched.files);
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
  {
    stage_clock t(c.stats, "deidentify");
    auto d = deidentify_into(c, volume, scratch.dir);
    if (!d) return st.failed("deidentify", std::move(d).err());
    clean = std::move(*d);
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
    auto sealed = seal_and_place(c, clean, series_key, lfn, version, scratch);
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
                       ref.series_uid, clean.removed_json};
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
                                    const nominative_link& link) {
  auto lookup = c.links->find(link.series_uid);
  if (!lookup) return std::move(lookup).err();
  if (!*lookup || (*lookup)->lfn_hex != lfn)
    return fail(errc::io_error, "series " + lfn + " has no lookup entry: it cannot be re-assembled");
  const auto version = (*lookup)->version;
  scratch_guard scratch{c.scratch_root / crypto::to_hex(crypto::random_bytes(8))};
  pacs::series_ref ref;
  ref.study_uid = link.study_uid;
  ref.series_uid = link.series_uid;
  auto started = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point& since) {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count();
    since = now;
    return ms;
  };
  auto fetched = fetch_one_series(c.config->pacs, c.config->retrieve == "move", ref, scratch.dir / "pacs", c.stop,
                                  [](const pacs::fetch_progress&) {});
  if (!fetched) return std::move(fetched).err();
  auto fetch_ms = ms_since(started);
  // Other instances than at ingest: the bytes would not be the indexed version's.
  if (fingerprint_of(fetched->files) != (*lookup)->fingerprint)
    return fail(errc::conflict, "the PACS now holds other instances of series " + lfn +
                                    " than its indexed version; the next ingest run makes a new version");
  auto volume = pacs::assemble_series(fetched->files);
  if (!volume) return std::move(volume).err();
  auto assemble_ms = ms_since(started);
  auto sealed = reassemble_and_place(c, *volume, series_key, lfn, version, scratch);
  if (!sealed) return std::move(sealed).err();
  spdlog::info(
      "event=series_restored lfn={} version={} instances={} sealed_bytes={} fetch_ms={} assemble_ms={} seal_ms={}",
      lfn, version, fetched->files.size(), *sealed, fetch_ms, assemble_ms, ms_since(started));
  return version;
}

}  // namespace dm2::node
