#include "store_scp.hpp"

#include "dcmtk_support.hpp"

#include <dcmtk/dcmnet/dstorscp.h>

#include <atomic>
#include <mutex>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

namespace dm2::pacs::detail {
namespace {

class storage_scp final : public DcmStorageSCP {
 public:
  std::atomic<bool> stop_flag{false};
  std::string our_ae;
  std::vector<std::string> hosts;
  std::string dir;
  mutable std::mutex mutex;
  mutable std::vector<std::string> files;

 protected:
  OFBool stopAfterCurrentAssociation() override { return stop_flag.load(); }
  OFBool stopAfterConnectionTimeout() override { return stop_flag.load(); }
  OFBool checkCalledAETitleAccepted(const OFString& called) override {
    return std::string(called.c_str()) == our_ae;
  }
  // DCMTK hands this hook the *called* address; the peer's IP comes from getPeerIP().
  OFBool checkCallingHostAccepted(const OFString& /*called_address*/) override {
    std::string peer = getPeerIP().c_str();
    for (const auto& h : hosts)
      if (h == peer) return OFTrue;
    spdlog::warn("event=store_scp_refused reason=unknown_host peer={}", peer);
    return OFFalse;
  }
  void notifyInstanceStored(const OFString& filename, const OFString& /*sop_class*/,
                            const OFString& sop_instance, DcmDataset* /*dataset*/) const override {
    // Rename to <uid>.dcm, the same naming as C-GET; a malformed UID keeps DCMTK's name.
    std::string from = filename.c_str();
    std::string uid = sop_instance.c_str();
    std::string to = from;
    if (is_valid_uid(uid)) {
      to = (std::filesystem::path(dir) / (uid + ".dcm")).string();
      std::error_code ec;
      std::filesystem::rename(from, to, ec);
      if (ec) to = from;
    }
    std::lock_guard lock(mutex);
    files.push_back(to);
  }
};

}  // namespace

struct store_scp::impl {
  storage_scp scp;
  std::thread thread;
};

store_scp::store_scp() : impl_(std::make_unique<impl>()) {}
store_scp::~store_scp() { stop(); }

status store_scp::start(std::uint16_t port, const std::string& ae_title,
                        std::vector<std::string> allowed_hosts,
                        const std::filesystem::path& dest_dir, unsigned timeout_s) {
  init_dcmtk();
  auto& scp = impl_->scp;
  scp.our_ae = ae_title;
  scp.hosts = std::move(allowed_hosts);
  scp.dir = dest_dir.string();
  scp.stop_flag = false;
  scp.setPort(port);
  scp.setAETitle(ae_title.c_str());
  scp.setConnectionBlockingMode(DUL_NOBLOCK);
  scp.setConnectionTimeout(1);  // how often the accept loop looks at stop_flag
  scp.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scp.setDIMSETimeout(timeout_s);
  scp.setACSETimeout(timeout_s);
  scp.setHostLookupEnabled(OFFalse);
  scp.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  if (scp.setOutputDirectory(scp.dir.c_str()).bad())
    return fail(errc::io_error, "C-STORE SCP: output directory is not writable");
  scp.setDatasetStorageMode(DcmStorageSCP::DGM_StoreBitPreserving);
  scp.setFilenameExtension(".dcm");
  const OFList<OFString> all = all_transfer_syntaxes();
  OFCondition added = EC_Normal;
  for (const char* sop : storage_sop_classes())
    if (added.good()) added = scp.addPresentationContext(sop, all);
  if (added.bad()) return fail(errc::internal, std::string("C-STORE SCP contexts: ") + added.text());
  OFCondition cond = scp.openListenPort();
  if (cond.bad())
    return fail(errc::io_error, "C-STORE SCP cannot listen on port " + std::to_string(port) + ": " +
                                    cond.text());
  impl_->thread = std::thread([this] { impl_->scp.acceptAssociations(); });
  return {};
}

void store_scp::stop() noexcept {
  impl_->scp.stop_flag = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<std::string> store_scp::stored_files() const {
  std::lock_guard lock(impl_->scp.mutex);
  return impl_->scp.files;
}

}  // namespace dm2::pacs::detail
