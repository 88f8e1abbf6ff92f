#include "old_pacs_server.hpp"

#include <dcmtk/config/osconfig.h>  // must come first with DCMTK
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/scu.h>

#include <fnmatch.h>

#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "pacs_server_fixture.hpp"

namespace dm2::test {
namespace {

// One served file: its path and its header (pixel data dropped), read once.
struct entry {
  std::filesystem::path path;
  std::string xfer;  // transfer syntax UID of the file
  std::unique_ptr<DcmDataset> header;
  // A DCMTK read moves the item's list cursor (and may rewrite the string's padding): two
  // associations matching at once raced on it and crashed once in CI.
  mutable std::mutex reading;
  std::string get(const DcmTagKey& tag) const {
    std::lock_guard lock(reading);
    OFString v;
    return header->findAndGetOFStringArray(tag, v).good() ? std::string(v.c_str()) : std::string();
  }
};

// The UID attribute that names one entity at a level.
DcmTagKey key_of(const std::string& level) {
  if (level == "STUDY") return DCM_StudyInstanceUID;
  if (level == "SERIES") return DCM_SeriesInstanceUID;
  if (level == "PATIENT") return DCM_PatientID;
  return DCM_SOPInstanceUID;
}

bool date_matches(const std::string& wanted, const std::string& have) {
  const auto dash = wanted.find('-');
  if (dash == std::string::npos) return wanted == have;
  // Range matching: an empty or zero date is in no range.
  if (have.size() != 8 || have == "00000000") return false;
  const std::string from = wanted.substr(0, dash), to = wanted.substr(dash + 1);
  return (from.empty() || have >= from) && (to.empty() || have <= to);
}

bool value_matches(const DcmTagKey& tag, const std::string& wanted, const std::string& have) {
  if (wanted.empty() || wanted == "*") return true;  // universal matching
  if (tag == DCM_StudyDate || tag == DCM_SeriesDate) return date_matches(wanted, have);
  if (wanted.find('\\') != std::string::npos) {  // list of UIDs
    std::size_t at = 0;
    while (at <= wanted.size()) {
      auto end = wanted.find('\\', at);
      if (end == std::string::npos) end = wanted.size();
      if (wanted.compare(at, end - at, have) == 0) return true;
      at = end + 1;
    }
    return false;
  }
  if (wanted.find_first_of("*?") != std::string::npos)
    return fnmatch(wanted.c_str(), have.c_str(), 0) == 0;
  return wanted == have;
}

// The non-empty matching keys of an identifier, by tag.
std::map<DcmTagKey, std::string> matching_keys(DcmDataset& ids) {
  std::map<DcmTagKey, std::string> keys;
  for (unsigned long i = 0; i < ids.card(); ++i) {
    DcmElement* e = ids.getElement(i);
    if (e == nullptr || e->ident() == EVR_SQ) continue;
    const DcmTagKey tag = e->getTag();
    if (tag == DCM_QueryRetrieveLevel || tag == DCM_SpecificCharacterSet) continue;
    OFString v;
    e->getOFStringArray(v);
    if (!v.empty()) keys[tag] = v.c_str();
  }
  return keys;
}

}  // namespace

struct old_pacs_server::impl {
  old_pacs_behaviour behaviour;
  old_pacs_counters counters;
  std::string ae = "OLDPACS";
  std::uint16_t port = 0, store_port = 0;
  std::mutex mutex;  // entries
  std::vector<std::shared_ptr<entry>> entries;
  T_ASC_Network* net = nullptr;
  std::atomic<bool> stopping{false};
  std::thread listener;
  std::mutex threads_mutex;
  std::vector<std::thread> threads;

  std::vector<std::shared_ptr<entry>> snapshot() {
    std::lock_guard lock(mutex);
    return entries;
  }

  // Entries matching `keys`, one per entity of `level` (the first entry of each).
  std::vector<std::shared_ptr<entry>> match(const std::string& level,
                                            const std::map<DcmTagKey, std::string>& keys) {
    std::vector<std::shared_ptr<entry>> out;
    std::set<std::string> seen;
    const DcmTagKey id = key_of(level);
    for (const auto& e : snapshot()) {
      bool ok = true;
      for (const auto& [tag, wanted] : keys)
        if (!value_matches(tag, wanted, e->get(tag))) ok = false;
      if (ok && seen.insert(e->get(id)).second) out.push_back(e);
    }
    return out;
  }

  void listen_loop() {
    while (!stopping) {
      T_ASC_Association* assoc = nullptr;
      OFCondition cond = ASC_receiveAssociation(net, &assoc, ASC_DEFAULTMAXPDU, nullptr, nullptr,
                                                OFFalse, DUL_NOBLOCK, 1);
      if (cond.bad()) {
        if (assoc != nullptr) {
          ASC_dropSCPAssociation(assoc);
          ASC_destroyAssociation(&assoc);
        }
        continue;
      }
      std::lock_guard lock(threads_mutex);
      threads.emplace_back([this, assoc] { serve(assoc); });
    }
  }

  void end(T_ASC_Association* assoc) {
    ASC_dropSCPAssociation(assoc);
    ASC_destroyAssociation(&assoc);
  }

  void reject(T_ASC_Association* assoc, T_ASC_RejectParametersReason reason) {
    T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, reason};
    ASC_rejectAssociation(assoc, &rej);
    ++counters.rejected;
    end(assoc);
  }

  // Accepts the query/retrieve and verification contexts, and every storage context in the
  // role proposed (a C-GET SCU asks us to be the storage SCU) with its first transfer syntax.
  void accept_contexts(T_ASC_Parameters* params) {
    const std::set<std::string> services = {UID_VerificationSOPClass,
                                            UID_FINDStudyRootQueryRetrieveInformationModel,
                                            UID_FINDPatientRootQueryRetrieveInformationModel,
                                            UID_GETStudyRootQueryRetrieveInformationModel,
                                            UID_MOVEStudyRootQueryRetrieveInformationModel};
    const int n = ASC_countPresentationContexts(params);
    for (int i = 0; i < n; ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(params, i, &pc).bad() || pc.transferSyntaxCount == 0) continue;
      if (services.count(pc.abstractSyntax) != 0)
        ASC_acceptPresentationContext(params, pc.presentationContextID,
                                      pc.proposedTransferSyntaxes[0]);
      else if (dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All))
        ASC_acceptPresentationContext(params, pc.presentationContextID,
                                      pc.proposedTransferSyntaxes[0], pc.proposedRole);
    }
  }

  void serve(T_ASC_Association* assoc) {
    char calling[65] = {}, called[65] = {};
    ASC_getAPTitles(assoc->params, calling, sizeof calling, called, sizeof called, nullptr, 0);
    const std::size_t proposed =
        static_cast<std::size_t>(ASC_countPresentationContexts(assoc->params));
    std::size_t most = counters.most_contexts_proposed;
    while (proposed > most &&
           !counters.most_contexts_proposed.compare_exchange_weak(most, proposed)) {
    }
    if (!behaviour.reject_calling_ae.empty() && behaviour.reject_calling_ae == calling)
      return reject(assoc, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
    if (ae != called) return reject(assoc, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
    if (behaviour.max_contexts != 0 && proposed > behaviour.max_contexts) {
      ++counters.aborted_too_many_contexts;
      ASC_abortAssociation(assoc);
      return end(assoc);
    }
    accept_contexts(assoc->params);
    if (ASC_acknowledgeAssociation(assoc).bad()) return end(assoc);
    ++counters.associations;
    while (!stopping) {
      T_DIMSE_Message msg;
      T_ASC_PresentationContextID pres = 0;
      OFCondition cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres, &msg, nullptr);
      if (cond == DIMSE_NODATAAVAILABLE) continue;
      if (cond == DUL_PEERREQUESTEDRELEASE) {
        ASC_acknowledgeRelease(assoc);
        break;
      }
      if (cond.bad()) break;
      bool ok = true;
      switch (msg.CommandField) {
        case DIMSE_C_ECHO_RQ:
          ok =
              DIMSE_sendEchoResponse(assoc, pres, &msg.msg.CEchoRQ, STATUS_Success, nullptr).good();
          break;
        case DIMSE_C_FIND_RQ:
          ok = find(assoc, pres, msg.msg.CFindRQ);
          break;
        case DIMSE_C_GET_RQ:
          ok = get(assoc, pres, msg.msg.CGetRQ);
          break;
        case DIMSE_C_MOVE_RQ:
          ok = move(assoc, pres, msg.msg.CMoveRQ);
          break;
        default:
          ok = false;
      }
      if (!ok) {
        ASC_abortAssociation(assoc);
        break;
      }
    }
    end(assoc);
  }

  static std::unique_ptr<DcmDataset> receive_identifier(T_ASC_Association* assoc,
                                                        T_ASC_PresentationContextID pres) {
    DcmDataset* ds = nullptr;
    if (DIMSE_receiveDataSetInMemory(assoc, DIMSE_BLOCKING, 0, &pres, &ds, nullptr, nullptr).bad())
      return nullptr;
    return std::unique_ptr<DcmDataset>(ds);
  }

  bool find(T_ASC_Association* assoc, T_ASC_PresentationContextID pres, T_DIMSE_C_FindRQ& rq) {
    auto ids = receive_identifier(assoc, pres);
    if (!ids) return false;
    OFString level;
    ids->findAndGetOFString(DCM_QueryRetrieveLevel, level);
    for (const auto& e : match(level.c_str(), matching_keys(*ids))) {
      DcmDataset answer;
      answer.putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
      for (unsigned long i = 0; i < ids->card(); ++i) {
        const DcmTagKey tag = ids->getElement(i)->getTag();
        if (tag == DCM_QueryRetrieveLevel || tag == DCM_SpecificCharacterSet) continue;
        if (tag == DCM_SOPClassUID && behaviour.find_without_sop_class) continue;
        answer.putAndInsertString(tag, e->get(tag).c_str());
      }
      T_DIMSE_C_FindRSP rsp{};
      rsp.DimseStatus = STATUS_Pending;
      rsp.DataSetType = DIMSE_DATASET_PRESENT;
      if (DIMSE_sendFindResponse(assoc, pres, &rq, &rsp, &answer, nullptr).bad()) return false;
    }
    T_DIMSE_C_FindRSP done{};
    done.DimseStatus = STATUS_Success;
    done.DataSetType = DIMSE_DATASET_NULL;
    return DIMSE_sendFindResponse(assoc, pres, &rq, &done, nullptr, nullptr).good();
  }

  // The entries a C-GET/C-MOVE identifier names, or none for a UID list when lists match nothing.
  std::vector<std::shared_ptr<entry>> retrieve_set(DcmDataset& ids) {
    ++counters.retrieve_requests;
    OFString level;
    ids.findAndGetOFString(DCM_QueryRetrieveLevel, level);
    auto keys = matching_keys(ids);
    if (behaviour.no_uid_list_matching)
      for (const auto& [tag, value] : keys)
        if (value.find('\\') != std::string::npos) {
          ++counters.unmatched_uid_lists;
          return {};
        }
    // Every instance of what the identifier names.
    return match("IMAGE", keys);
  }

  struct subops {
    Uint16 completed = 0, failed = 0;
  };

  // Reads each entry and hands it to `send(entry, dataset, transfer syntax UID)`, which returns
  // whether the C-STORE succeeded.
  template <typename send_fn>
  static subops store_all(const std::vector<std::shared_ptr<entry>>& set, send_fn send) {
    subops n;
    for (const auto& e : set) {
      DcmFileFormat file;
      const bool ok =
          file.loadFile(e->path.string().c_str()).good() &&
          send(*e, *file.getDataset(), DcmXfer(file.getDataset()->getOriginalXfer()).getXferID());
      ok ? ++n.completed : ++n.failed;
    }
    return n;
  }

  // C-STORE sub-operation of a C-GET, on the requester's association.
  static bool store_back(T_ASC_Association* assoc, const entry& e, DcmDataset& data,
                         const char* xfer) {
    const std::string sop_class = e.get(DCM_SOPClassUID), sop_uid = e.get(DCM_SOPInstanceUID);
    const T_ASC_PresentationContextID pres =
        ASC_findAcceptedPresentationContextID(assoc, sop_class.c_str(), xfer);
    if (pres == 0) return false;  // no context for this class and syntax: the sub-operation fails
    T_DIMSE_C_StoreRQ rq{};
    rq.MessageID = assoc->nextMsgID++;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class.c_str(), sizeof rq.AffectedSOPClassUID);
    OFStandard::strlcpy(rq.AffectedSOPInstanceUID, sop_uid.c_str(),
                        sizeof rq.AffectedSOPInstanceUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_StoreRSP rsp{};
    DcmDataset* detail = nullptr;
    OFCondition cond = DIMSE_storeUser(assoc, pres, &rq, nullptr, &data, nullptr, nullptr,
                                       DIMSE_BLOCKING, 0, &rsp, &detail);
    delete detail;
    return cond.good() && rsp.DimseStatus == STATUS_Success;
  }

  bool get(T_ASC_Association* assoc, T_ASC_PresentationContextID pres, T_DIMSE_C_GetRQ& rq) {
    auto ids = receive_identifier(assoc, pres);
    if (!ids) return false;
    auto set = retrieve_set(*ids);
    auto n = store_all(set, [assoc](const entry& e, DcmDataset& data, const char* xfer) {
      return store_back(assoc, e, data, xfer);
    });
    T_DIMSE_C_GetRSP rsp{};
    rsp.DimseStatus =
        n.failed == 0 ? STATUS_Success : STATUS_GET_Warning_SubOperationsCompleteOneOrMoreFailures;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    rsp.NumberOfCompletedSubOperations = n.completed;
    rsp.NumberOfFailedSubOperations = n.failed;
    rsp.opts = O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS | O_GET_NUMBEROFFAILEDSUBOPERATIONS |
               O_GET_NUMBEROFWARNINGSUBOPERATIONS | O_GET_NUMBEROFREMAININGSUBOPERATIONS;
    return DIMSE_sendGetResponse(assoc, pres, &rq, &rsp, nullptr, nullptr).good();
  }

  bool move(T_ASC_Association* assoc, T_ASC_PresentationContextID pres, T_DIMSE_C_MoveRQ& rq) {
    auto ids = receive_identifier(assoc, pres);
    if (!ids) return false;
    T_DIMSE_C_MoveRSP rsp{};
    rsp.DataSetType = DIMSE_DATASET_NULL;
    if (std::string(rq.MoveDestination) != test_our_ae) {
      rsp.DimseStatus = STATUS_MOVE_Failed_MoveDestinationUnknown;
      return DIMSE_sendMoveResponse(assoc, pres, &rq, &rsp, nullptr, nullptr).good();
    }
    auto set = retrieve_set(*ids);
    subops n;
    if (!set.empty()) {
      DcmSCU out;
      out.setAETitle(ae.c_str());
      out.setPeerAETitle(test_our_ae);
      out.setPeerHostName("127.0.0.1");
      out.setPeerPort(store_port);
      std::set<std::pair<std::string, std::string>> offered;
      for (const auto& e : set) {
        if (offered.emplace(e->get(DCM_SOPClassUID), e->xfer).second) {
          OFList<OFString> ts;
          ts.push_back(e->xfer.c_str());
          out.addPresentationContext(e->get(DCM_SOPClassUID).c_str(), ts);
        }
      }
      if (out.initNetwork().good() && out.negotiateAssociation().good()) {
        n = store_all(set, [&out](const entry& e, DcmDataset& data, const char* xfer) {
          Uint16 status = 0;
          const auto id = out.findPresentationContextID(e.get(DCM_SOPClassUID).c_str(), xfer);
          return id != 0 && out.sendSTORERequest(id, "", &data, status).good() &&
                 status == STATUS_Success;
        });
        out.releaseAssociation();
      } else {
        n.failed = static_cast<Uint16>(set.size());
      }
    }
    rsp.DimseStatus =
        n.failed == 0 ? STATUS_Success : STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
    rsp.NumberOfCompletedSubOperations = n.completed;
    rsp.NumberOfFailedSubOperations = n.failed;
    rsp.opts = O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS | O_MOVE_NUMBEROFFAILEDSUBOPERATIONS |
               O_MOVE_NUMBEROFWARNINGSUBOPERATIONS | O_MOVE_NUMBEROFREMAININGSUBOPERATIONS;
    return DIMSE_sendMoveResponse(assoc, pres, &rq, &rsp, nullptr, nullptr).good();
  }
};

old_pacs_server::old_pacs_server(old_pacs_behaviour behaviour) : impl_(std::make_unique<impl>()) {
  impl_->behaviour = std::move(behaviour);
  (void)confine_to_private_network();  // ports are picked where the server will run
  impl_->port = free_port();
  impl_->store_port = free_port();
}

old_pacs_server::~old_pacs_server() { stop(); }

std::string old_pacs_server::add(const std::vector<std::filesystem::path>& files) {
  for (const auto& f : files) {
    DcmFileFormat file;
    if (file.loadFile(f.string().c_str()).bad()) return "cannot read " + f.string();
    auto e = std::make_shared<entry>();
    e->path = f;
    e->xfer = DcmXfer(file.getDataset()->getOriginalXfer()).getXferID();
    e->header = std::make_unique<DcmDataset>(*file.getDataset());
    delete e->header->remove(DCM_PixelData);
    std::lock_guard lock(impl_->mutex);
    impl_->entries.push_back(std::move(e));
  }
  return "";
}

std::string old_pacs_server::start() {
  if (auto why = confine_to_private_network(); !why.empty()) return "old PACS not started: " + why;
  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, impl_->port, 30, &impl_->net);
  if (cond.bad()) return std::string("old PACS cannot listen: ") + cond.text();
  impl_->listener = std::thread([this] { impl_->listen_loop(); });
  return "";
}

void old_pacs_server::stop() {
  if (!impl_ || impl_->net == nullptr) return;
  impl_->stopping = true;
  if (impl_->listener.joinable()) impl_->listener.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->threads_mutex);
    threads.swap(impl_->threads);
  }
  for (auto& t : threads) t.join();
  ASC_dropNetwork(&impl_->net);
  impl_->net = nullptr;
}

dm2::pacs::pacs_settings old_pacs_server::settings() const {
  dm2::pacs::pacs_settings s;
  s.host = "127.0.0.1";
  s.port = impl_->port;
  s.called_ae_title = impl_->ae;
  s.calling_ae_title = test_our_ae;
  s.store_port = impl_->store_port;
  s.timeout = std::chrono::seconds(20);
  return s;
}

old_pacs_counters& old_pacs_server::counters() { return impl_->counters; }

}  // namespace dm2::test
