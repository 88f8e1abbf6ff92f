#include "dm2/pacs/dicom_client.hpp"

#include "association_reject.hpp"
#include "dcmtk_support.hpp"
#include "store_scp.hpp"

#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <netdb.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <system_error>

#include <spdlog/spdlog.h>

namespace dm2::pacs {

const char* level_name(query_level level) noexcept {
  switch (level) {
    case query_level::patient: return "PATIENT";
    case query_level::study: return "STUDY";
    case query_level::series: return "SERIES";
    case query_level::image: return "IMAGE";
  }
  return "STUDY";
}

const std::string& find_match::get(const std::string& keyword) const {
  static const std::string empty;
  auto it = attributes.find(keyword);
  return it == attributes.end() ? empty : it->second;
}

namespace {

using namespace detail;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// DCMTK's SCU with C-STORE sub-operations written bit for bit to <dest>/<uid>.dcm, or, with
// observer->received, parsed into memory and handed over.
class scu final : public DcmSCU {
 public:
  std::filesystem::path dest;
  retrieve_report* report = nullptr;
  const std::atomic<bool>* stop = nullptr;
  const get_observer* observer = nullptr;
  std::set<std::string>* received = nullptr;  // SOP Instance UIDs stored
  bool cancelled = false;
  bool store_failed = false;
  bool unreadable = false;  // an object received into memory did not parse
  unsigned unnamed = 0;

  bool in_memory() const { return observer != nullptr && observer->received; }

 protected:
  OFCondition handleSTORERequestFile(T_ASC_PresentationContextID* pres_id, const OFString& /*name*/,
                                     T_DIMSE_C_StoreRQ* request) override {
    // The PACS names the file through AffectedSOPInstanceUID: only a well-formed UID is used.
    std::string uid = request->AffectedSOPInstanceUID;
    std::string base = is_valid_uid(uid) ? uid : "unnamed-" + std::to_string(++unnamed);
    auto final_path = dest / (base + ".dcm");
    auto part_path = dest / (base + ".dcm.part");
    OFCondition cond = DcmSCU::handleSTORERequestFile(pres_id, part_path.string().c_str(), request);
    if (cond.good()) {
      std::error_code ec;
      std::filesystem::rename(part_path, final_path, ec);
      if (ec) {
        std::filesystem::remove(part_path, ec);
        return refused(uid);
      }
      const std::uint64_t size = std::filesystem::file_size(final_path, ec);
      kept(uid, final_path.string(), request->AffectedSOPClassUID, size);
      if (observer != nullptr && observer->stored) observer->stored(uid, final_path.string(), size);
    } else {
      refused(uid);
    }
    return cancelled_now() ? EC_IllegalCall : cond;
  }

  // In memory (DCMSCU_STORAGE_DISK mode: DCMTK parsed the dataset; it is ours to delete).
  OFCondition handleSTORERequest(const T_ASC_PresentationContextID /*pres_id*/, DcmDataset* incoming,
                                 OFBool& /*continue_session*/, Uint16& store_status) override {
    DcmFileFormat ff(incoming, OFFalse);  // takes it over
    receiving = false;
    store_status = STATUS_STORE_Refused_OutOfResources;
    std::string uid = get_string(*incoming, DCM_SOPInstanceUID);
    std::string sop_class = get_string(*incoming, DCM_SOPClassUID);
    std::string part10;
    if (!is_valid_uid(uid) || !write_part10(ff, incoming->getOriginalXfer(), part10)) return refused(uid);
    const std::uint64_t size = part10.size();
    if (!observer->received(uid, std::move(part10))) return refused(uid);
    kept(uid, uid, sop_class, size);
    store_status = STATUS_Success;
    return cancelled_now() ? EC_IllegalCall : EC_Normal;
  }

  // Called while a dataset arrives: one that never reaches handleSTORERequest did not parse.
  void notifyRECEIVEProgress(const unsigned long /*bytes*/) override {
    if (in_memory()) receiving = true;
  }

 public:
  // After a C-GET: whether an object received into memory failed to parse.
  bool lost_unreadable() {
    unreadable = receiving;
    receiving = false;
    return unreadable;
  }

 private:
  bool receiving = false;

  void kept(const std::string& uid, const std::string& name, const std::string& sop_class, std::uint64_t size) {
    if (report != nullptr) {
      report->files.push_back(name);
      report->sop_classes.push_back(sop_class);
      report->bytes += size;
    }
    if (received != nullptr) received->insert(uid);
  }
  OFCondition refused(const std::string& uid) {
    store_failed = true;
    if (observer != nullptr && observer->store_failed) observer->store_failed(uid);
    return EC_InvalidStream;
  }
  bool cancelled_now() {
    if (stop != nullptr && stop->load()) cancelled = true;  // ends the C-GET session; the caller aborts
    return cancelled;
  }
};

std::string status_text(Uint16 s) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%04X", s);
  return buf;
}

// Reads the sub-operation counts of the final (non-pending) C-GET/C-MOVE response into
// `report`, frees every response, and returns the final status (none if the PACS sent none).
std::optional<Uint16> take_final_response(OFList<RetrieveResponse*>& responses, retrieve_report& report) {
  std::optional<Uint16> final_status;
  for (RetrieveResponse* r : responses) {
    if (r->m_status != STATUS_Pending) {
      final_status = r->m_status;
      report.completed = r->m_numberOfCompletedSubops;
      report.failed = r->m_numberOfFailedSubops;
      report.warning = r->m_numberOfWarningSubops;
    }
    delete r;
  }
  responses.clear();
  return final_status;
}

// A C-GET/C-MOVE that ended with a failure status `s` (`meaning`: DCMTK's text for it).
// `note` is appended (why objects may have failed).
error retrieve_failed(const char* what, Uint16 s, const char* meaning, const retrieve_report& report,
                      const std::string& note = "") {
  return fail(errc::unavailable, std::string(what) + " failed with status " + status_text(s) + " (" + meaning +
                                     "), " + std::to_string(report.failed) + " sub-operations failed" + note);
}

// "CR Image Storage, 1.2.3.4" for SOP class UIDs (names where DCMTK knows them).
std::string class_names(const std::vector<std::string>& classes) {
  std::string names;
  for (const auto& c : classes) names += (names.empty() ? "" : ", ") + sop_class_name(c);
  return names;
}

// Names the SOP classes our C-STORE SCP refused during a C-MOVE ("" if none).
std::string refused_note(const std::vector<std::string>& classes) {
  if (classes.empty()) return "";
  return "; our C-STORE SCP refused SOP class " + class_names(classes) + " (not a storage class it knows)";
}

bool is_pending(Uint16 s) { return s == STATUS_Pending || s == STATUS_FIND_Pending_WarningUnsupportedOptionalKeys; }

void add_default_keys(dicom_query& q) {
  auto add = [&q](std::initializer_list<const char*> keys) {
    for (const char* k : keys) q.keys.emplace(k, "");
  };
  switch (q.level) {
    case query_level::patient:
      add({"PatientName", "PatientID", "PatientBirthDate", "PatientSex"});
      break;
    case query_level::study:
      add({"StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "PatientName", "PatientID",
           "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
           "NumberOfStudyRelatedInstances"});
      break;
    case query_level::series:
      add({"StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDate",
           "SeriesTime", "SeriesDescription", "NumberOfSeriesRelatedInstances"});
      break;
    case query_level::image:
      add({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
           "InstanceNumber"});
      break;
  }
}

result<DcmDataset> build_identifier(const dicom_query& q) {
  DcmDataset ds;
  ds.putAndInsertString(DCM_QueryRetrieveLevel, level_name(q.level));
  for (const auto& [keyword, value] : q.keys) {
    auto tag = tag_of(keyword);
    if (!tag) return tag.err();
    if (ds.putAndInsertString(*tag, value.c_str()).bad())
      return fail(errc::invalid_argument, "cannot put query key '" + keyword + "'");
  }
  return ds;
}

std::vector<std::string> resolve_host(const std::string& host) {
  std::vector<std::string> out{host};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
    for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
      char buf[INET_ADDRSTRLEN];
      auto* sin = reinterpret_cast<sockaddr_in*>(p->ai_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr) out.emplace_back(buf);
    }
    freeaddrinfo(res);
  }
  return out;
}

// A C-GET association proposes the Study Root GET context, then storage contexts: one per
// (SOP class, transfer-syntax group), never more than max_presentation_contexts in all. A lone
// known class gets every group (1 + 10 = 11 contexts); otherwise two classes share an
// association with the fallback's 6 groups each (1 + 12 = 13).
constexpr std::size_t get_service_contexts = 1;
static_assert(get_service_contexts + transfer_syntax_group_count <= max_presentation_contexts);
static_assert(get_service_contexts + max_get_sop_classes * fallback_transfer_syntax_group_count <=
              max_presentation_contexts);

// The storage SOP classes one C-GET association proposes.
struct storage_offer {
  bool fallback = true;              // classes from the fixed fallback list (the PACS named none)
  bool every_syntax = false;         // every transfer-syntax group, else the fallback's 6
  std::vector<std::string> classes;  // sorted

  const std::vector<OFList<OFString>>& groups() const {
    return every_syntax ? transfer_syntax_groups() : fallback_transfer_syntax_groups();
  }
  // True if an association that proposed *this can receive what `need` asks for.
  bool covers(const storage_offer& need) const {
    return fallback == need.fallback && (every_syntax || !need.every_syntax) &&
           std::includes(classes.begin(), classes.end(), need.classes.begin(), need.classes.end());
  }
};

// The offers a C-GET tries in turn, one association each, until its objects have arrived: the
// caller's classes (any UID, even a private one), or, when they are unknown or not UIDs, the
// fallback list in its order (common classes first); max_get_sop_classes per association.
std::vector<storage_offer> offers_for(const std::vector<std::string>& wanted) {
  std::set<std::string> known;
  bool usable = !wanted.empty();
  for (const auto& c : wanted) {
    if (!is_valid_uid(c)) usable = false;  // the PACS answered garbage: do not propose it
    known.insert(c);
  }
  std::vector<std::string> all;
  if (usable)
    all.assign(known.begin(), known.end());
  else
    for (const char* c : fallback_sop_classes()) all.emplace_back(c);
  std::vector<storage_offer> out;
  for (std::size_t from = 0; from < all.size(); from += max_get_sop_classes) {
    storage_offer o;
    o.fallback = !usable;
    o.classes.assign(all.begin() + static_cast<std::ptrdiff_t>(from),
                     all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + max_get_sop_classes)));
    o.every_syntax = usable && o.classes.size() == 1;
    std::sort(o.classes.begin(), o.classes.end());
    out.push_back(std::move(o));
  }
  return out;
}

// The key of `q` whose value is a list (holds '\'), or nullptr.
const std::pair<const std::string, std::string>* list_key(const dicom_query& q) {
  for (const auto& kv : q.keys)
    if (kv.second.find('\\') != std::string::npos) return &kv;
  return nullptr;
}

// `q` once per value of its list key.
std::vector<dicom_query> split_list(const dicom_query& q, const std::string& key) {
  std::vector<dicom_query> out;
  const std::string& list = q.keys.at(key);
  std::size_t at = 0;
  while (at <= list.size()) {
    std::size_t end = list.find('\\', at);
    if (end == std::string::npos) end = list.size();
    if (end > at) {
      out.push_back(q);
      out.back().keys[key] = list.substr(at, end - at);
    }
    at = end + 1;
  }
  return out;
}

// Adds `more` to `into`, each file once.
void merge(retrieve_report& into, const retrieve_report& more) {
  if (into.files.empty() && into.completed == 0) {  // the usual case: one request
    into = more;
    return;
  }
  std::error_code ec;
  for (std::size_t i = 0; i < more.files.size(); ++i) {
    // A file asked again (another fallback chunk) was rewritten in place: count it once.
    if (std::find(into.files.begin(), into.files.end(), more.files[i]) != into.files.end()) continue;
    into.files.push_back(more.files[i]);
    if (i < more.sop_classes.size()) into.sop_classes.push_back(more.sop_classes[i]);
    into.bytes += std::filesystem::file_size(more.files[i], ec);
  }
  into.completed += more.completed;
  into.failed = more.failed;
  into.warning += more.warning;
}

}  // namespace

struct dicom_client::impl {
  pacs_settings settings;
  std::unique_ptr<scu> assoc;
  // What the open association proposed for C-GET (nothing: it was opened for another service).
  std::optional<storage_offer> offered;
  // The PACS answered a UID list in C-GET/C-MOVE with 0 sub-operations: send one UID per request.
  bool no_list_matching = false;
  // The fallback offer that last brought objects (tried first next time).
  std::size_t fallback_hint = 0;
  // Failed and all sub-operations of the last C-GET (a next offer may bring the failed ones).
  unsigned last_failed_subops = 0;
  unsigned last_total_subops = 0;

  std::string where() const {
    return settings.called_ae_title + "@" + settings.host + ":" + std::to_string(settings.port);
  }

  error network_error(const std::string& what, const OFCondition& cond) {
    // Abort rather than release: after a network error the peer may never answer a release.
    if (assoc && assoc->isConnected()) assoc->abortAssociation();
    assoc.reset();
    std::string text = cond.text();
    std::string l = lower(text);
    if (cond == DUL_ASSOCIATIONREJECTED) {
      std::string reason = ask_reject_reason(settings);
      if (reason.empty()) reason = text + " (calling AE '" + settings.calling_ae_title + "')";
      return fail(errc::permission_denied, "PACS " + where() + " rejected the association: " + reason);
    }
    if (l.find("timeout") != std::string::npos || l.find("timed out") != std::string::npos ||
        cond == DIMSE_NODATAAVAILABLE)
      return fail(errc::timeout, what + " with PACS " + where() + " timed out: " + text);
    return fail(errc::unavailable, what + " with PACS " + where() + " failed: " + text);
  }

  // Opens an association unless a fitting one is open. Without `get`: the 5 query contexts
  // (Verification, Patient Root FIND, Study Root FIND/GET/MOVE). With `get`: the Study Root GET
  // context and the storage contexts of `get` (at most max_presentation_contexts in all). An
  // open association that does not fit is released and a new one opened.
  status open(const storage_offer* get = nullptr) {
    if (assoc && assoc->isConnected()) {
      if (get == nullptr ? !offered.has_value() : (offered && offered->covers(*get))) return {};
      assoc->releaseAssociation();
    }
    assoc.reset();
    offered.reset();
    if (auto v = validate(settings); !v) return v;
    init_dcmtk();
    assoc = std::make_unique<scu>();
    auto& s = *assoc;
    s.setAETitle(settings.calling_ae_title.c_str());
    s.setPeerHostName(settings.host.c_str());
    s.setPeerPort(settings.port);
    s.setPeerAETitle(settings.called_ae_title.c_str());
    auto t = static_cast<Uint32>(settings.timeout.count());
    s.setACSETimeout(t);
    s.setDIMSETimeout(t);
    s.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    s.setConnectionTimeout(static_cast<Sint32>(t));
    s.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
    s.setStorageMode(DCMSCU_STORAGE_BIT_PRESERVING);
    OFList<OFString> uncompressed = transfer_syntax_groups()[0];
    if (get == nullptr) {
      s.addPresentationContext(UID_VerificationSOPClass, uncompressed);
      s.addPresentationContext(UID_FINDPatientRootQueryRetrieveInformationModel, uncompressed);
      s.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, uncompressed);
      s.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, uncompressed);
      s.addPresentationContext(UID_MOVEStudyRootQueryRetrieveInformationModel, uncompressed);
    } else {
      s.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, uncompressed);
      for (const auto& sop : get->classes)
        for (const auto& group : get->groups()) s.addPresentationContext(sop.c_str(), group, ASC_SC_ROLE_SCP);
    }
    OFCondition cond = s.initNetwork();
    if (cond.bad()) return network_error("network initialisation", cond);
    cond = s.negotiateAssociation();
    if (cond.bad()) return network_error("association", cond);
    if (get != nullptr) offered = *get;
    return {};
  }

  // Why objects of a C-GET may not have arrived, from what the association proposed: the
  // classes the PACS accepted no context for, or the fallback's limit. "" if nothing to say.
  std::string negotiation_note() const {
    if (!offered || !assoc) return "";
    if (offered->fallback)
      return "; the SOP classes were unknown, so only " + std::to_string(fallback_sop_classes().size()) +
             " common storage classes were proposed (" + std::to_string(max_get_sop_classes) +
             " per association, " + std::to_string(offers_for({}).size()) + " associations)";
    std::vector<std::string> refused;
    for (const auto& sop : offered->classes)
      if (assoc->findAnyPresentationContextID(sop.c_str(), UID_LittleEndianExplicitTransferSyntax) == 0)
        refused.push_back(sop);
    return refused.empty() ? "" : "; the PACS accepted no presentation context for " + class_names(refused);
  }

  result<T_ASC_PresentationContextID> context(const char* sop) {
    T_ASC_PresentationContextID id =
        assoc->findAnyPresentationContextID(sop, UID_LittleEndianExplicitTransferSyntax);
    if (id == 0)
      return fail(errc::unavailable, "PACS " + where() + " does not support " +
                                         std::string(dcmFindNameOfUID(sop, sop)));
    return id;
  }

  // One C-GET proposing `need`; what arrived is merged into `out` (also on failure) and the
  // SOP Instance UIDs of the objects into `received`.
  status get_once(const dicom_query& q, const std::filesystem::path& dest_dir, const get_options& options,
                  const storage_offer& need, retrieve_report& out, std::set<std::string>& received) {
    auto ds = build_identifier(q);
    if (!ds) return ds.err();
    last_failed_subops = 0;
    last_total_subops = 0;
    if (auto s = open(&need); !s) return s;
    auto id = context(UID_GETStudyRootQueryRetrieveInformationModel);
    if (!id) return id.err();
    retrieve_report report;
    scu& s = *assoc;
    s.dest = dest_dir;
    s.report = &report;
    s.stop = options.stop;
    s.observer = options.observer;
    s.received = &received;
    s.cancelled = false;
    s.store_failed = false;
    s.setStorageMode(s.in_memory() ? DCMSCU_STORAGE_DISK : DCMSCU_STORAGE_BIT_PRESERVING);
    OFList<RetrieveResponse*> responses;
    OFCondition cond = s.sendCGETRequest(*id, &*ds, &responses);
    s.report = nullptr;
    s.observer = nullptr;
    s.received = nullptr;
    const std::optional<Uint16> final_status = take_final_response(responses, report);
    merge(out, report);
    last_failed_subops = report.failed;
    last_total_subops = report.completed + report.failed + report.warning;
    if (s.cancelled) {
      s.abortAssociation();
      assoc.reset();
      return fail(errc::cancelled, "C-GET cancelled after " + std::to_string(report.files.size()) + " objects");
    }
    if (cond.bad()) return network_error("C-GET", cond);
    // A refused or unreadable object ends the session early: the rest may still be on the wire.
    auto abort_with = [&](error e) {
      s.abortAssociation();
      assoc.reset();
      return e;
    };
    if (s.lost_unreadable())
      return abort_with(fail(errc::malformed_input, "C-GET: PACS " + where() + " sent an object that is not readable as DICOM"));
    if (s.store_failed) return abort_with(fail(errc::io_error, "C-GET: a received object could not be stored"));
    if (!final_status) return abort_with(fail(errc::unavailable, "C-GET: the PACS sent no final response"));
    if (*final_status == STATUS_Success && report.files.empty())
      return fail(errc::not_found, "C-GET: nothing matched on PACS " + where());
    if (*final_status != STATUS_Success)
      return retrieve_failed("C-GET", *final_status, DU_cgetStatusString(*final_status), report, negotiation_note());
    return {};
  }

  // A C-GET over the offers of offers_for(options.sop_classes), one association each, until
  // every object asked for has arrived: while a C-GET ends with failed sub-operations (objects of
  // a class that association did not propose), the next offer is asked for the objects still
  // missing. A SOPInstanceUID list is narrowed to them, and the offers are tried round again
  // until a whole round brings nothing new (a PACS that ends a C-GET at its first failed
  // sub-operation, like Orthanc, may leave objects of an offer's class unsent); any other
  // request is asked again whole, each offer once.
  status get_negotiating(const dicom_query& q, const std::filesystem::path& dest_dir, const get_options& options,
                         retrieve_report& out) {
    const std::vector<storage_offer> offers = offers_for(options.sop_classes);
    const bool fallback = offers.front().fallback;
    std::size_t at = fallback ? fallback_hint % offers.size() : 0;
    std::set<std::string> received;
    dicom_query ask = q;
    auto uids = ask.keys.find("SOPInstanceUID");
    const bool narrowable = uids != ask.keys.end() && !uids->second.empty();
    status last;
    std::size_t tried = 0;
    for (std::size_t fruitless = 0; fruitless < offers.size() && (narrowable || tried < offers.size());
         at = (at + 1) % offers.size(), ++tried) {
      const std::size_t before = received.size();
      last = get_once(ask, dest_dir, options, offers[at], out, received);
      if (last) {
        if (fallback) fallback_hint = at;
        return last;
      }
      // Only failed sub-operations may be a class this association did not propose.
      if (last.err().code != errc::unavailable || last_failed_subops == 0) return last;
      if (received.size() == before) {
        ++fruitless;
        continue;
      }
      fruitless = 0;
      if (fallback) fallback_hint = at;
      if (!narrowable) {
        if (received.size() >= last_total_subops) return {};  // all arrived, over several associations
        continue;
      }
      std::string missing;
      for (const auto& one : split_list(ask, uids->first))
        if (const auto& uid = one.keys.at(uids->first); received.count(uid) == 0)
          missing += (missing.empty() ? "" : "\\") + uid;
      if (missing.empty()) return {};
      uids->second = missing;
    }
    return last;
  }
};

dicom_client::dicom_client(pacs_settings settings) : impl_(std::make_unique<impl>()) {
  impl_->settings = std::move(settings);
}
dicom_client::~dicom_client() { close(); }
dicom_client::dicom_client(dicom_client&&) noexcept = default;
dicom_client& dicom_client::operator=(dicom_client&&) noexcept = default;

const pacs_settings& dicom_client::settings() const { return impl_->settings; }

void dicom_client::close() noexcept {
  if (!impl_ || !impl_->assoc) return;
  if (impl_->assoc->isConnected()) impl_->assoc->releaseAssociation();
  impl_->assoc.reset();
}

status dicom_client::echo() {
  if (auto s = impl_->open(); !s) return s;
  auto id = impl_->context(UID_VerificationSOPClass);
  if (!id) return id.err();
  OFCondition cond = impl_->assoc->sendECHORequest(*id);
  if (cond.bad()) return impl_->network_error("C-ECHO", cond);
  return {};
}

result<std::vector<find_match>> dicom_client::find(const dicom_query& query) {
  dicom_query q = query;
  if (q.default_return_keys) add_default_keys(q);
  auto ds = build_identifier(q);
  if (!ds) return ds.err();
  if (auto s = impl_->open(); !s) return s.err();
  auto id = impl_->context(q.level == query_level::patient
                               ? UID_FINDPatientRootQueryRetrieveInformationModel
                               : UID_FINDStudyRootQueryRetrieveInformationModel);
  if (!id) return id.err();
  OFList<QRResponse*> responses;
  OFCondition cond = impl_->assoc->sendFINDRequest(*id, &*ds, &responses);
  std::vector<find_match> matches;
  Uint16 final_status = STATUS_Success;
  bool have_final = false;
  for (QRResponse* r : responses) {
    if (is_pending(r->m_status) && r->m_dataset != nullptr) {
      find_match m;
      for (unsigned long i = 0; i < r->m_dataset->card(); ++i) {
        DcmElement* e = r->m_dataset->getElement(i);
        if (e == nullptr || e->ident() == EVR_SQ) continue;
        OFString v;
        if (e->getOFStringArray(v).good()) m.attributes[keyword_of(e->getTag())] = v.c_str();
      }
      matches.push_back(std::move(m));
    } else if (!is_pending(r->m_status)) {
      final_status = r->m_status;
      have_final = true;
    }
    delete r;
  }
  if (cond.bad()) return impl_->network_error("C-FIND", cond);
  if (have_final && final_status != STATUS_Success)
    return fail(errc::unavailable, "C-FIND at " + std::string(level_name(q.level)) +
                                       " level failed with status " + status_text(final_status) +
                                       " (" + DU_cfindStatusString(final_status) + ")");
  return matches;
}

result<retrieve_report> dicom_client::get(const dicom_query& identifiers,
                                          const std::filesystem::path& dest_dir, const get_options& options) {
  std::error_code ec;
  const bool in_memory = options.observer != nullptr && options.observer->received;
  if (!in_memory && !std::filesystem::is_directory(dest_dir, ec))
    return fail(errc::io_error, "C-GET destination is not a directory");
  if (auto ds = build_identifier(identifiers); !ds) return ds.err();
  retrieve_report report;
  const auto* key = list_key(identifiers);
  if (key == nullptr || !impl_->no_list_matching) {
    auto r = impl_->get_negotiating(identifiers, dest_dir, options, report);
    if (r) return report;
    if (r.err().code != errc::not_found || key == nullptr) return r.err();
    // A list that matched nothing: some PACS do not match UID lists. Ask one UID at a time.
    impl_->no_list_matching = true;
    spdlog::info("event=pacs_no_uid_list_matching service=C-GET action=one_uid_per_request");
  }
  bool matched = false;
  for (const auto& one : split_list(identifiers, key->first)) {
    auto r = impl_->get_negotiating(one, dest_dir, options, report);
    if (r) matched = true;
    else if (r.err().code != errc::not_found) return r.err();
  }
  if (!matched)
    return fail(errc::not_found, "C-GET: nothing matched on PACS " + impl_->where() + ", asked one UID per request");
  return report;
}

result<retrieve_report> dicom_client::move(const dicom_query& identifiers,
                                           const std::filesystem::path& dest_dir) {
  const auto& st = impl_->settings;
  if (st.store_port == 0) return fail(errc::invalid_config, "C-MOVE needs pacs.store_port");
  std::error_code ec;
  if (!std::filesystem::is_directory(dest_dir, ec))
    return fail(errc::io_error, "C-MOVE destination is not a directory");
  if (auto ds = build_identifier(identifiers); !ds) return ds.err();
  if (auto s = impl_->open(); !s) return s.err();
  auto id = impl_->context(UID_MOVEStudyRootQueryRetrieveInformationModel);
  if (!id) return id.err();
  detail::store_scp receiver;
  if (auto s = receiver.start(st.store_address, st.store_port, st.calling_ae_title, resolve_host(st.host), dest_dir,
                              static_cast<unsigned>(st.timeout.count()));
      !s)
    return s.err();
  retrieve_report report;
  std::optional<error> network_failure;
  std::optional<Uint16> failure_status;
  // One C-MOVE request, its counts added to `report`. False if it matched nothing.
  auto request = [&](const dicom_query& q) {
    auto ds = build_identifier(q);  // checked above
    OFList<RetrieveResponse*> responses;
    OFCondition cond = impl_->assoc->sendMOVERequest(*id, st.calling_ae_title.c_str(), &*ds, &responses);
    retrieve_report counts;
    const std::optional<Uint16> final_status = take_final_response(responses, counts);
    report.completed += counts.completed;
    report.failed += counts.failed;
    report.warning += counts.warning;
    if (cond.bad()) network_failure = impl_->network_error("C-MOVE", cond);
    else if (!final_status) network_failure = fail(errc::unavailable, "C-MOVE: the PACS sent no final response");
    else if (*final_status != STATUS_Success) failure_status = *final_status;
    return network_failure || failure_status || counts.completed + counts.failed + counts.warning > 0;
  };
  const auto* key = list_key(identifiers);
  bool matched = (key == nullptr || !impl_->no_list_matching) && request(identifiers);
  if (!matched && key != nullptr && !network_failure && !failure_status) {
    if (!impl_->no_list_matching)
      spdlog::info("event=pacs_no_uid_list_matching service=C-MOVE action=one_uid_per_request");
    impl_->no_list_matching = true;
    for (const auto& one : split_list(identifiers, key->first)) {
      if (network_failure || failure_status) break;
      matched = request(one) || matched;
    }
  }
  receiver.stop();
  report.files = receiver.stored_files();
  for (const auto& f : report.files) report.bytes += std::filesystem::file_size(f, ec);
  if (network_failure) return std::move(*network_failure);
  if (failure_status)
    return retrieve_failed("C-MOVE", *failure_status, DU_cmoveStatusString(*failure_status), report,
                           refused_note(receiver.refused_classes()));
  if (!matched && report.files.empty())
    return fail(errc::not_found, "C-MOVE: nothing matched on PACS " + impl_->where());
  return report;
}

}  // namespace dm2::pacs
