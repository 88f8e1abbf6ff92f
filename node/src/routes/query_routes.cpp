
#include <spdlog/spdlog.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "../owned_volume.hpp"
#include "../query_body.hpp"
#include "../query_stage_two.hpp"
#include "../series_at_pacs.hpp"
#include "../similarity/nifti_reader.hpp"
#include "../similarity/query_volume.hpp"
#include "../similarity/signature.hpp"
#include "../uploaded_series.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "query_view_json.hpp"
#include "routes.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;

constexpr const char* queries_path = "/v1/queries";

// A query by image: the stage-1 signature into the body; returns the stage-2 query volume (wire
// form). Errors: those of the similarity code (a volume it cannot resample).
result<std::string> image_query(const similarity::volume& v, query_submission& s) {
  auto signature = similarity::signature_of(v);
  if (!signature) return std::move(signature).err();
  auto query = similarity::query_volume(v);
  if (!query) return std::move(query).err();
  s.body.signature = similarity::signature_bytes(*signature);
  return similarity::query_volume_wire(*query);
}

// By one of this site's own series: the caller must be allowed to read its index attributes
// (what a signature and the scores derived from it are; the image itself never reaches the
// caller); the site opens the sealed volume in memory. Errors: not_found (no such series owned
// here), permission_denied (audited), those of open_owned_volume and image_query.
result<std::string> by_own_series(const route_context& c, const access::principal& who, query_submission& s) {
  const auto& lfn = s.by_series;
  if (c.overlay->owned_version(lfn) == 0) return fail(errc::not_found, "by_series: this site owns no series with that lfn");
  auto f = c.facts_for(who, access::data_class::index_attributes, access::action::read, lfn, c.self_site());
  if (auto refused = c.authorize(who, f, "query_by_series", lfn))
    return fail(errc::permission_denied, "by_series: not allowed to read that series' index attributes");
  auto opened = open_owned_volume(*c.overlay, *c.ingest, lfn);
  if (!opened) return std::move(opened).err();
  return image_query(opened->volume, s);
}

// A series the ingest has not taken yet: found at the PACS first (whose it is), the care team
// decided on that patient (audited query_by_pacs_series under the patient's reference: there is
// no LFN yet), then fetched into the upload scratch, assembled and the scratch removed.
result<std::string> by_series_at_pacs(const route_context& c, const access::principal& who, query_submission& s) {
  auto found = find_series_at_pacs(*c.config, s.pacs_study_uid, s.pacs_series_uid, query_limits::max_upload_files);
  if (!found) return std::move(found).err();
  const auto ref = c.ingest->patient_ref(found->patient_id);
  auto f = c.facts_for(who, access::data_class::nominative, access::action::read, "", c.self_site());
  if (who.person && !who.asserted) {
    auto member = c.access->teams().contains(ref, who.id);
    if (!member) return std::move(member).err();
    f.care_team = *member;
  }
  if (auto refused = c.authorize(who, f, "query_by_pacs_series", ref))
    return fail(errc::permission_denied, "pacs_series: only a physician of the patient's care team may query by it");
  auto v = fetch_series_volume(*c.config, *found, query_limits::max_upload_voxels);
  if (!v) return std::move(v).err();
  return image_query(*v, s);
}

// By the original series at this site's PACS, for a physician of the patient's care team: the
// UIDs are nominative, so resolving them is reading the series' nominative link (the policy's
// `nominative read`: the care team, at this site, for treatment; audited query_by_pacs_series
// under the LFN); then as by_series, or, not ingested yet, from the PACS (by_series_at_pacs).
// Neither UID is logged or echoed. Errors: not_found (no such series here nor at the PACS),
// permission_denied (audited), those of by_own_series and by_series_at_pacs.
result<std::string> by_pacs_series(const route_context& c, const access::principal& who, query_submission& s) {
  auto lfn = c.ingest->lfn_of_original(s.pacs_study_uid, s.pacs_series_uid);
  if (!lfn) return std::move(lfn).err();
  if (!*lfn) return by_series_at_pacs(c, who, s);
  auto f = c.facts_for(who, access::data_class::nominative, access::action::read, **lfn, c.self_site());
  if (auto refused = c.authorize(who, f, "query_by_pacs_series", **lfn))
    return fail(errc::permission_denied, "pacs_series: only a physician of the patient's care team may query by it");
  s.by_series = **lfn;
  return by_own_series(c, who, s);
}

// By an uploaded volume, NIfTI (read in memory) or a DICOM series (assembled from a private
// scratch folder removed at once); neither is stored or logged. Errors: malformed_input (400),
// unsupported (415), too_large (413), invalid_argument (400) of the reader or assembler, and
// those of image_query.
result<std::string> by_upload(const route_context& c, query_submission& s) {
  const bool nifti = !s.nifti.empty();
  auto v = nifti ? similarity::read_nifti(s.nifti, {query_limits::max_upload_voxels})
                 : assemble_uploaded_series(s.dicom, c.config->data_dir, query_limits::max_upload_voxels);
  std::string().swap(s.nifti);
  std::vector<std::string>().swap(s.dicom);
  if (!v) return nifti ? error{v.err().code, "nifti: " + v.err().message} : std::move(v).err();
  return image_query(*v, s);
}

// A query by one of this site's own series: its record's similarity signature, from the local
// copy. Errors: not_found (no such record here, or another site's), invalid_argument (the record
// has no usable signature).
result<std::string> own_signature(const route_context& c, const std::string& lfn) {
  auto self = c.members->self();
  auto copy = c.overlay->find(lfn);
  auto record = copy ? dht::decode_replica(*copy) : result<storage::index_record>(fail(errc::not_found, ""));
  if (!self || !record || record->owner_site != self->site_id)
    return fail(errc::not_found, "lfn: this site owns no record with that lfn");
  const auto& s = record->signature;
  if (s.empty() || s.size() % 4 != 0 || s.size() > query_limits::max_signature_bytes)
    return fail(errc::invalid_argument, "lfn: that record has no usable similarity signature");
  return s;
}

// Who may start a query: a role that could read some hit's index attributes at all (the policy
// asked with every condition met). Which hits a user then sees is decided per hit at poll time.
http_response start(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto f = c.facts_for(*who, access::data_class::index_attributes, access::action::read, "", "");
  f.care_team = f.grant = true;
  f.self = who->who == access::role::patient;
  if (auto refused = c.authorize(*who, f, "query_start", "queries")) return *refused;
  auto submission = parse_query_submission(request.body);
  if (!submission) {
    spdlog::info("event=query_rejected remote={} reason=\"{}\"", request.remote_address, submission.err().message);
    return error_response(submission.err());
  }
  if (who->person) {
    // Sites learn who asks by pseudonym and why, inside the signed body; never a name.
    submission->body.user = who->id;
    submission->body.purpose = access::name_of(f.why);
  }
  if (!submission->lfn.empty()) {
    auto signature = own_signature(c, submission->lfn);
    if (!signature) return error_response(signature.err());
    submission->body.signature = std::move(*signature);
  }
  std::string query_volume;
  const bool by_image = submission->by_image();
  if (by_image) {
    auto v = !submission->by_series.empty()       ? by_own_series(c, *who, *submission)
             : !submission->pacs_series_uid.empty() ? by_pacs_series(c, *who, *submission)
                                                    : by_upload(c, *submission);
    if (!v) return error_response(v.err());
    query_volume = std::move(*v);
  }
  const auto* measure = *similarity::measure_registry::builtin().find(submission->measure, submission->measure_version);
  auto id = c.queries->open({submission->body.top_k, submission->by_series,
                             by_image ? submission->stage_two_depth : 0, submission->timeout, who->id});
  if (!id) {
    auto busy = error_response(id.err());
    busy.status = 429;
    busy.headers.emplace("Retry-After", std::string(1, '1'));
    return busy;
  }
  stage_two_job stage_two{*id, measure, std::move(query_volume),
                          std::chrono::steady_clock::now() + submission->timeout, *who};
  auto started = c.overlay->start_query(
      *id, canonical_json(submission->body), submission->timeout,
      [c, job = std::move(stage_two)](const std::vector<dht::query_hit>& hits, const dht::query_progress& p) {
        if (!c.queries->record(job.query_id, hits, p)) return;
        // Stage 1 is done: stage 2 off the overlay's thread; skipped when the deadline passed.
        if (p.deadline_passed || !c.jobs->run([c, job] { run_stage_two(c, job); }))
          c.queries->finish_stage_two(job.query_id);
      });
  if (!started) {
    c.queries->cancel(*id);
    return error_response(started.err());
  }
  spdlog::info("event=query_started query={} measure={}/{} top_k={} stage2_depth={} timeout_ms={} signature_bytes={}",
               *id, measure->name, measure->version, submission->body.top_k,
               by_image ? submission->stage_two_depth : 0, submission->timeout.count(),
               submission->body.signature.size());
  auto location = std::string(queries_path) + "/" + *id;
  http_response r{202, "application/json", {{"Location", location}}, json{{"id", *id}, {"location", location}}.dump()};
  return r;
}

// The hits so far, each one shown only if the policy lets the poller read its index attributes
// (a researcher sees the hits his grants cover); the poll is audited with the count withheld.
http_response poll(const route_context& c, const http_request& request) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto id = last_segment(request.target);
  auto view = c.queries->view(id);
  if (!view) return error_response(fail(errc::not_found, "no such query (unknown, or finished and forgotten)"));
  auto shown = show_query(c, *who, id, *view);
  if (!shown) return error_response(shown.err());
  if (auto s = audit_query_read(c, *who, id, *shown); !s) return error_response(s.err());
  return http_response{200, "application/json", {}, shown->body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

void add_query_routes(router& routes, const route_context& c) {
  routes.add("POST", queries_path, [c](const http_request& r) { return start(c, r); });
  routes.add_prefix("GET", std::string(queries_path) + "/", [c](const http_request& r) { return poll(c, r); });
  add_query_event_routes(routes, c);
}

}  // namespace dm2::node
