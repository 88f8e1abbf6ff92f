// DICOMweb (docs/dicomweb.md): QIDO-RS searches across the overlay, answered from the index in
// the DICOM JSON model with pseudonymous UIDs (dicomweb/dicom_uids.hpp), and WADO-RS retrieval
// of a series, its instances, metadata, frames and rendered images through the retrieval path
// (series_retrieval.hpp: the same policy, audit, assertion and key shares as GET /v1/series/{lfn}).
//   GET /dicom-web/studies, /dicom-web/series              QIDO-RS
//   GET /dicom-web/studies/{study}/...                     under_study below
#include <algorithm>
#include <cctype>
#include <functional>

#include <nlohmann/json.hpp>

#include "../dicomweb/dicom_uids.hpp"
#include "../dicomweb/qido_json.hpp"
#include "../retrieval/leased_source.hpp"
#include "dicomweb_images.hpp"
#include "dicomweb_search.hpp"
#include "dm2/pacs/dicom_json.hpp"
#include "routes.hpp"
#include "retrieved_instances.hpp"
#include "series_retrieval.hpp"

namespace dm2::node {
namespace {

using json = nlohmann::json;
using namespace dicomweb;

constexpr const char* root = "/dicom-web";
constexpr const char* dicom_json_type = "application/dicom+json";

// The service root as the client reached it, for RetrieveURL and BulkDataURI: its Host header
// when that is a plain host[:port], else the configured HTTPS endpoint.
std::string base_url(const route_context& c, const http_request& request) {
  auto host = request.headers.find("host");
  bool clean = host != request.headers.end() && !host->second.empty() &&
               host->second.size() <= 255 &&
               std::all_of(host->second.begin(), host->second.end(), [](char ch) {
                 return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ||
                        ch == ':' || ch == '[' || ch == ']';
               });
  auto authority = clean ? host->second : c.config->https.to_string();
  return "https://" + authority + root;
}

std::vector<std::string> split_path(std::string_view rest) {
  std::vector<std::string> parts;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    parts.emplace_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

// A request that asks for something WADO-RS here never produces (another media type, or a
// transfer syntax other than the stored one): 406 with the JSON error body. `json_answer`: the
// answer is DICOM JSON, else multipart/related application/dicom.
std::optional<http_response> not_acceptable(const http_request& request, bool json_answer) {
  auto accept = request.headers.find("accept");
  if (accept == request.headers.end()) return std::nullopt;
  const auto& a = accept->second;
  auto has = [&](std::string_view s) { return a.find(s) != std::string::npos; };
  bool type_ok = has("*/*") || (json_answer ? has(dicom_json_type) || has("application/json")
                                            : has("multipart/related") &&
                                                  (!has("type=") || has("application/dicom")));
  auto ts = a.find("transfer-syntax=");
  auto syntax = ts == std::string::npos ? std::string_view{} : std::string_view(a).substr(ts + 16);
  bool syntax_ok =
      ts == std::string::npos || syntax.substr(0, 1) == "*" || syntax.substr(0, 2) == "\"*";
  if (type_ok && syntax_ok) return std::nullopt;
  auto r = error_response(
      fail(errc::unsupported,
           std::string("this node answers ") +
               (json_answer ? dicom_json_type : "multipart/related; type=\"application/dicom\"") +
               " in the stored transfer syntax (transfer-syntax=*); docs/dicomweb.md"));
  r.status = 406;
  return r;
}

http_response search(const route_context& c, const http_request& request, qido_level level,
                     std::string_view path_study = {}) {
  auto who = c.authenticate(request);
  if (!who) return error_response(who.err());
  auto q = parse_qido(request.target, level, path_study);
  if (!q) return error_response(q.err());
  auto page = qido_search(c, *who, *q);
  if (!page) return error_response(page.err());
  json out = json::array();
  auto base = base_url(c, request);
  for (const auto& hit : page->hits) {
    auto attributes = json::parse(hit.summary, nullptr, false);
    auto result = qido_result(level, hit.lfn, hit.owner, attributes, base);
    if (auto names = page->names.find(hit.lfn); names != page->names.end())
      add_patient_names(result, names->second);
    out.push_back(std::move(result));
  }
  http_response r{
      200, dicom_json_type, {}, out.dump(-1, ' ', false, json::error_handler_t::replace)};
  std::string warnings;
  for (const auto& w : q->warnings) warnings += (warnings.empty() ? "" : ", ") + w;
  if (page->more)
    warnings += std::string(warnings.empty() ? "" : ", ") +
                "299 dm2: \"There are additional results that can be requested\"";
  if (!page->sites_missing.empty()) {
    std::string sites;
    for (const auto& s : page->sites_missing) sites += (sites.empty() ? "" : " ") + s;
    warnings += std::string(warnings.empty() ? "" : ", ") +
                "299 dm2: \"Sites that did not answer in time: " + sites + "\"";
  }
  if (!warnings.empty()) r.headers.emplace("Warning", warnings);
  return r;
}

// The LFN a WADO-RS path names: the series UID, which must belong to the study UID. Errors:
// invalid_argument (not UIDs), not_found (not UIDs of an indexed series, or of two series).
result<std::string> lfn_of_path(const std::string& study, const std::string* series) {
  if (!valid_uid(study) || (series && !valid_uid(*series)))
    return fail(errc::invalid_argument, "the path's study and series must be UIDs");
  auto lfn = lfn_of_study(study);
  if (!lfn || (series && lfn_of_series(*series) != lfn))
    return fail(errc::not_found,
                "no such series here (dm2's UIDs come from QIDO-RS; docs/dicomweb.md)");
  return *lfn;
}

// Each instance of the series (or the one whose SOP Instance UID is `only`), opened in memory
// through the retrieval path, as DICOM JSON with the UIDs QIDO-RS showed: `take(json, instance)`.
// The response to send instead (the retrieval's refusal, a file that does not open, 404 when
// `only` names no instance), or nullopt.
std::optional<http_response> each_instance(
    const route_context& c, const http_request& request, const std::string& lfn,
    const std::string& only, const std::function<void(std::string&&, const std::string&)>& take) {
  pacs::dicomweb_uids uids{study_uid_of(lfn), series_uid_of(lfn)};
  auto series_url = base_url(c, request) + "/studies/" + uids.study + "/series/" + uids.series;
  std::string sop;
  bool found = false;
  auto failed = for_each_retrieved_instance(
      c, request, lfn, [&](const std::string& instance, std::size_t, std::size_t) -> result<bool> {
        auto j = pacs::dicom_json_of(instance, uids, series_url, sop);
        if (!j) return std::move(j).err();
        if (only.empty() || sop == only) {
          found = true;
          take(std::move(*j), instance);
        }
        return only.empty() || !found;
      });
  if (failed) return failed;
  if (!only.empty() && !found)
    return error_response(fail(errc::not_found, "no such instance in that series"));
  return std::nullopt;
}

// The metadata of every instance of the series (or of one): a DICOM JSON array.
http_response metadata(const route_context& c, const http_request& request, const std::string& lfn,
                       const std::string& only = {}) {
  if (auto no = not_acceptable(request, true)) return *no;
  std::string out = "[";
  auto failed = each_instance(c, request, lfn, only, [&](std::string&& j, const std::string&) {
    out += (out.size() > 1 ? "," : "") + j;
  });
  if (failed) return *failed;
  out += "]";
  return http_response{200, dicom_json_type, {}, std::move(out)};
}

// QIDO-RS at instance level, within a series: what identifies each instance and its image, from
// the instances themselves (the index holds none), in slice order; paging as for the other levels.
http_response instances(const route_context& c, const http_request& request,
                        const std::string& lfn) {
  if (auto who = c.authenticate(request); !who) return error_response(who.err());
  auto q = parse_qido(request.target, qido_level::instance);
  if (!q) return error_response(q.err());
  static const char* const kept[] = {"00080005", "00080016", "00080018", "00080060",
                                     "0020000D", "0020000E", "00200013", "00280008",
                                     "00280010", "00280011", "00280100"};
  json out = json::array();
  std::size_t seen = 0;
  auto base = base_url(c, request) + "/studies/" + study_uid_of(lfn) + "/series/" +
              series_uid_of(lfn) + "/instances/";
  auto failed = each_instance(c, request, lfn, {}, [&](std::string&& text, const std::string&) {
    if (seen++ < q->offset || out.size() >= q->limit) return;
    auto all = json::parse(text, nullptr, false);
    json item = json::object();
    for (const char* tag : kept)
      if (all.contains(tag)) item[tag] = all[tag];
    if (auto sop = all["00080018"]["Value"]; sop.is_array() && !sop.empty() && sop[0].is_string())
      item["00081190"] = {{"vr", "UR"}, {"Value", {base + sop[0].get<std::string>()}}};
    out.push_back(std::move(item));
  });
  if (failed) return *failed;
  http_response r{
      200, dicom_json_type, {}, out.dump(-1, ' ', false, json::error_handler_t::replace)};
  if (seen > q->offset + out.size())
    r.headers.emplace("Warning", "299 dm2: \"There are additional results that can be requested\"");
  return r;
}

// The series' instances, each with the UIDs QIDO-RS showed, as multipart/related.
class instances_with_uids final : public body_source {
 public:
  instances_with_uids(std::shared_ptr<body_source> instances, pacs::dicomweb_uids uids)
      : instances_(std::move(instances)),
        uids_(std::move(uids)),
        framing_(multipart_framing::random("application/dicom")) {}
  std::string content_type() const { return framing_.content_type(); }
  std::optional<std::uint64_t> size() const override { return std::nullopt; }  // UIDs change sizes
  result<bool> next(std::string& piece) override {
    piece.clear();
    if (done_) return false;
    std::string instance;
    auto more = instances_->next(instance);
    if (!more) return std::move(more).err();
    if (!*more) {
      piece = framing_.closing();
      done_ = true;
      return true;
    }
    auto rewritten = pacs::with_uids(instance, uids_);
    std::fill(instance.begin(), instance.end(), '\0');
    if (!rewritten) return std::move(rewritten).err();
    piece = framing_.part_start(rewritten->size()) + *rewritten +
            std::string(multipart_framing::part_end);
    std::fill(rewritten->begin(), rewritten->end(), '\0');
    return true;
  }

 private:
  std::shared_ptr<body_source> instances_;
  pacs::dicomweb_uids uids_;
  multipart_framing framing_;
  bool done_ = false;
};

// One instance, with the UIDs QIDO-RS showed, as a multipart/related answer of one part.
http_response instance(const route_context& c, const http_request& request, const std::string& lfn,
                       const std::string& sop) {
  if (auto no = not_acceptable(request, false)) return *no;
  pacs::dicomweb_uids uids{study_uid_of(lfn), series_uid_of(lfn)};
  std::string body;
  auto framing = multipart_framing::random("application/dicom");
  std::optional<http_response> broken;
  auto failed = each_instance(c, request, lfn, sop, [&](std::string&&, const std::string& bytes) {
    auto rewritten = pacs::with_uids(bytes, uids);
    if (!rewritten) {
      broken = error_response(rewritten.err());
      return;
    }
    body = framing.part_start(rewritten->size()) + *rewritten +
           std::string(multipart_framing::part_end) + framing.closing();
  });
  if (failed) return *failed;
  if (broken) return *broken;
  return http_response{200, framing.content_type(), {}, std::move(body)};
}

http_response series(const route_context& c, const http_request& request, const std::string& lfn) {
  if (auto no = not_acceptable(request, false)) return *no;
  auto retrieved = retrieve_series(c, request, lfn, series_form::instances);
  if (!retrieved.streamed) return retrieved;
  auto body = std::make_shared<instances_with_uids>(
      retrieved.streamed, pacs::dicomweb_uids{study_uid_of(lfn), series_uid_of(lfn)});
  http_response r{200, body->content_type(), retrieved.headers, {}};
  r.streamed = std::move(body);
  return r;
}

// GET /dicom-web/studies/{study}[/...]: the paths below a study.
//   {study}[/metadata|/rendered]                                the study (one series)
//   {study}/series                                              QIDO-RS
//   {study}/series/{series}[/metadata|/rendered]                the series
//   {study}/series/{series}/instances                           QIDO-RS, instance level
//   {study}/series/{series}/instances/{sop}[/metadata|/rendered]  one instance
//   {study}/series/{series}/instances/{sop}/frames/{list}[/rendered]  its frames
http_response under_study(const route_context& c, const http_request& request) {
  auto parts =
      split_path(std::string_view(path_of(request.target)).substr(std::string(root).size() + 9));
  if (parts.empty() || parts[0].empty())
    return error_response(fail(errc::not_found, "no such resource"));
  const auto& study = parts[0];
  if (parts.size() == 2 && parts[1] == "series")
    return search(c, request, qido_level::series, study);
  const bool is_metadata = parts.size() > 1 && parts.back() == "metadata";
  const bool is_rendered = parts.size() > 1 && parts.back() == "rendered";
  auto n = parts.size() - (is_metadata || is_rendered ? 1 : 0);  // without /metadata, /rendered
  const std::string* series_uid = n >= 3 && parts[1] == "series" ? &parts[2] : nullptr;
  const bool list = series_uid && parts.size() == 4 && parts[3] == "instances";
  const std::string* sop =
      series_uid && (n == 5 || n == 7) && parts[3] == "instances" ? &parts[4] : nullptr;
  const std::string* frames = sop && n == 7 && parts[5] == "frames" ? &parts[6] : nullptr;
  if (!(n == 1 || (series_uid && n == 3) || list || (sop && n == 5) || frames) ||
      (frames && is_metadata))
    return error_response(
        fail(errc::not_found, "not a resource this node serves (docs/dicomweb.md lists them)"));
  auto lfn =
      sop && !valid_uid(*sop)
          ? result<std::string>(fail(errc::invalid_argument, "the path's instance must be a UID"))
          : lfn_of_path(study, series_uid);
  if (!lfn) {
    // An unknown series still needs a signed-in caller to learn so.
    if (auto who = c.authenticate(request); !who) return error_response(who.err());
    return error_response(lfn.err());
  }
  if (list) return instances(c, request, *lfn);
  if (is_rendered) return wado_rendered(c, request, *lfn, sop ? *sop : "", frames ? *frames : "");
  if (frames) return wado_frames(c, request, *lfn, *sop, *frames);
  if (sop) return is_metadata ? metadata(c, request, *lfn, *sop) : instance(c, request, *lfn, *sop);
  return is_metadata ? metadata(c, request, *lfn) : series(c, request, *lfn);
}

}  // namespace

void add_dicomweb_routes(router& routes, const route_context& c) {
  routes.add("GET", std::string(root) + "/studies",
             [c](const http_request& r) { return search(c, r, qido_level::study); });
  routes.add("GET", std::string(root) + "/series",
             [c](const http_request& r) { return search(c, r, qido_level::series); });
  routes.add_tree("GET", std::string(root) + "/studies/",
                  [c](const http_request& r) { return under_study(c, r); });
}

}  // namespace dm2::node
