// DICOMweb (docs/dicomweb.md): QIDO-RS searches across the overlay, answered from the index in
// the DICOM JSON model with pseudonymous UIDs (dicomweb/dicom_uids.hpp), and WADO-RS retrieval
// of a series, its instances and its metadata through the retrieval path (series_retrieval.hpp:
// the same policy, audit, assertion and key shares as GET /v1/series/{lfn}).
//   GET /dicom-web/studies, /dicom-web/series              QIDO-RS
//   GET /dicom-web/studies/{study}/series                  QIDO-RS
//   GET /dicom-web/studies/{study}[/series/{series}]       WADO-RS, multipart/related application/dicom
//   GET /dicom-web/studies/{study}[/series/{series}]/metadata   WADO-RS, application/dicom+json
#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "../dicomweb/dicom_uids.hpp"
#include "../dicomweb/qido_json.hpp"
#include "../retrieval/leased_source.hpp"
#include "dicomweb_search.hpp"
#include "dm2/pacs/dicom_json.hpp"
#include "routes.hpp"
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
  bool clean = host != request.headers.end() && !host->second.empty() && host->second.size() <= 255 &&
               std::all_of(host->second.begin(), host->second.end(), [](char ch) {
                 return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':' ||
                        ch == '[' || ch == ']';
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
                                            : has("multipart/related") && (!has("type=") || has("application/dicom")));
  auto ts = a.find("transfer-syntax=");
  bool syntax_ok = ts == std::string::npos || a.compare(ts + 16, 1, "*") == 0 || a.compare(ts + 16, 2, "\"*") == 0;
  if (type_ok && syntax_ok) return std::nullopt;
  auto r = error_response(fail(errc::unsupported, std::string("this node answers ") +
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
    out.push_back(qido_result(level, hit.lfn, hit.owner, attributes, base));
  }
  http_response r{200, dicom_json_type, {}, out.dump(-1, ' ', false, json::error_handler_t::replace)};
  std::string warnings;
  for (const auto& w : q->warnings) warnings += (warnings.empty() ? "" : ", ") + w;
  if (page->more)
    warnings += std::string(warnings.empty() ? "" : ", ") + "299 dm2: \"There are additional results that can be requested\"";
  if (!page->sites_missing.empty()) {
    std::string sites;
    for (const auto& s : page->sites_missing) sites += (sites.empty() ? "" : " ") + s;
    warnings += std::string(warnings.empty() ? "" : ", ") + "299 dm2: \"Sites that did not answer in time: " + sites + "\"";
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
    return fail(errc::not_found, "no such series here (dm2's UIDs come from QIDO-RS; docs/dicomweb.md)");
  return *lfn;
}

// Every instance of the series in the DICOM JSON model, its UIDs those QIDO-RS showed, read
// through the retrieval path (the node opens the instances in memory, one at a time).
http_response metadata(const route_context& c, const http_request& request, const std::string& lfn) {
  if (auto no = not_acceptable(request, true)) return *no;
  auto retrieved = retrieve_series(c, request, lfn, series_form::instances);
  if (!retrieved.streamed) return retrieved;
  pacs::dicomweb_uids uids{study_uid_of(lfn), series_uid_of(lfn)};
  auto series_url = base_url(c, request) + "/studies/" + uids.study + "/series/" + uids.series;
  std::string out = "[", instance, sop;
  for (bool first = true;; first = false) {
    auto more = retrieved.streamed->next(instance);
    if (!more) return error_response(more.err());
    if (!*more) break;
    auto j = pacs::dicom_json_of(instance, uids, series_url, sop);
    std::fill(instance.begin(), instance.end(), '\0');
    if (!j) return error_response(j.err());
    out += (first ? "" : ",") + *j;
  }
  out += "]";
  return http_response{200, dicom_json_type, {}, std::move(out)};
}

// The series' instances, each with the UIDs QIDO-RS showed, as multipart/related.
class instances_with_uids final : public body_source {
 public:
  instances_with_uids(std::shared_ptr<body_source> instances, pacs::dicomweb_uids uids)
      : instances_(std::move(instances)), uids_(std::move(uids)),
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
    piece = framing_.part_start(rewritten->size()) + *rewritten + std::string(multipart_framing::part_end);
    std::fill(rewritten->begin(), rewritten->end(), '\0');
    return true;
  }

 private:
  std::shared_ptr<body_source> instances_;
  pacs::dicomweb_uids uids_;
  multipart_framing framing_;
  bool done_ = false;
};

http_response series(const route_context& c, const http_request& request, const std::string& lfn) {
  if (auto no = not_acceptable(request, false)) return *no;
  auto retrieved = retrieve_series(c, request, lfn, series_form::instances);
  if (!retrieved.streamed) return retrieved;
  auto body = std::make_shared<instances_with_uids>(retrieved.streamed, pacs::dicomweb_uids{study_uid_of(lfn), series_uid_of(lfn)});
  http_response r{200, body->content_type(), retrieved.headers, {}};
  r.streamed = std::move(body);
  return r;
}

// GET /dicom-web/studies/{study}[/...]: the paths below a study.
http_response under_study(const route_context& c, const http_request& request) {
  auto parts = split_path(std::string_view(path_of(request.target)).substr(std::string(root).size() + 9));
  if (parts.empty() || parts[0].empty()) return error_response(fail(errc::not_found, "no such resource"));
  const auto& study = parts[0];
  if (parts.size() == 2 && parts[1] == "series") return search(c, request, qido_level::series, study);
  const std::string* series_uid = parts.size() >= 3 && parts[1] == "series" ? &parts[2] : nullptr;
  const bool is_metadata = parts.back() == "metadata";
  const bool whole = parts.size() == 1 || (parts.size() == 2 && is_metadata) || (series_uid && parts.size() == 3) ||
                     (series_uid && parts.size() == 4 && is_metadata);
  if (!whole)
    return error_response(fail(errc::not_found, "not a resource this node serves (docs/dicomweb.md lists them)"));
  auto lfn = lfn_of_path(study, series_uid);
  if (!lfn) {
    // An unknown series still needs a signed-in caller to learn so.
    if (auto who = c.authenticate(request); !who) return error_response(who.err());
    return error_response(lfn.err());
  }
  return is_metadata ? metadata(c, request, *lfn) : series(c, request, *lfn);
}

}  // namespace

void add_dicomweb_routes(router& routes, const route_context& c) {
  routes.add("GET", std::string(root) + "/studies", [c](const http_request& r) { return search(c, r, qido_level::study); });
  routes.add("GET", std::string(root) + "/series", [c](const http_request& r) { return search(c, r, qido_level::series); });
  routes.add_tree("GET", std::string(root) + "/studies/", [c](const http_request& r) { return under_study(c, r); });
}

}  // namespace dm2::node
