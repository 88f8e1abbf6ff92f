#include "association_reject.hpp"

#include "dcmtk_support.hpp"

#include <dcmtk/dcmnet/assoc.h>

namespace dm2::pacs::detail {
namespace {

std::string explain(const T_ASC_RejectParameters& rej, const pacs_settings& s) {
  const std::string calling = "'" + s.calling_ae_title + "'",
                    called = "'" + s.called_ae_title + "'";
  std::string why;
  switch (rej.reason) {
    case ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED:
      why = "calling AE title " + calling + " (ours) is not recognised: register " + calling +
            " on the PACS, or set pacs.calling_ae_title to an AE title it knows";
      break;
    case ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED:
      why = "called AE title " + called +
            " (the PACS's) is not recognised: set pacs.called_ae_title to the PACS's own AE title";
      break;
    case ASC_REASON_SU_NOREASON:
      why = "no reason given (often our calling AE title " + calling +
            " or our address is not configured on the PACS)";
      break;
    case ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED:
      why = "application context not supported";
      break;
    case ASC_REASON_SP_ACSE_NOREASON:
      why = "refused by its ACSE provider, no reason given";
      break;
    case ASC_REASON_SP_ACSE_PROTOCOLVERSIONNOTSUPPORTED:
      why = "protocol version not supported";
      break;
    case ASC_REASON_SP_PRES_TEMPORARYCONGESTION:
      why = "temporary congestion (busy): try again later";
      break;
    case ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED:
      why = "local limit exceeded (too many associations: lower pacs.associations)";
      break;
  }
  return why + (rej.result == ASC_RESULT_REJECTEDTRANSIENT ? " [transient]" : " [permanent]");
}

}  // namespace

std::string ask_reject_reason(const pacs_settings& s) {
  init_dcmtk();
  const int timeout = static_cast<int>(s.timeout.count());
  T_ASC_Network* net = nullptr;
  if (ASC_initializeNetwork(NET_REQUESTOR, 0, timeout, &net).bad()) return "";
  std::string out;
  T_ASC_Parameters* params = nullptr;
  if (ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU).good()) {
    const std::string peer = s.host + ":" + std::to_string(s.port);
    ASC_setAPTitles(params, s.calling_ae_title.c_str(), s.called_ae_title.c_str(), nullptr);
    ASC_setPresentationAddresses(params, "localhost", peer.c_str());
    const char* syntaxes[] = {UID_LittleEndianImplicitTransferSyntax};
    ASC_addPresentationContext(params, 1, UID_VerificationSOPClass, syntaxes, 1);
    T_ASC_Association* assoc = nullptr;
    OFCondition cond =
        ASC_requestAssociation(net, params, &assoc, nullptr, nullptr, DUL_BLOCK, timeout);
    if (cond == DUL_ASSOCIATIONREJECTED) {
      T_ASC_RejectParameters rej{};
      if (ASC_getRejectParameters(params, &rej).good()) out = explain(rej, s);
    } else if (cond.good()) {
      ASC_releaseAssociation(assoc);
    }
    if (assoc != nullptr)
      ASC_destroyAssociation(&assoc);  // frees params too
    else
      ASC_destroyAssociationParameters(&params);
  }
  ASC_dropNetwork(&net);
  return out;
}

}  // namespace dm2::pacs::detail
