#include "store_scp.hpp"

#include "dcmtk_support.hpp"

#include <dcmtk/dcmnet/dstorscp.h>
#include <dcmtk/dcmnet/dul.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

namespace dm2::pacs::detail {
namespace {

// DCMTK 3.6.7's acceptor binds INADDR_ANY (no bind-address API). Its inetd mode is the way
// around it: while the process-wide dcmExternalSocketHandle holds a descriptor,
// ASC_initializeNetwork creates no listening socket, and ASC_receiveAssociation takes that
// descriptor as the already *connected* peer instead of calling accept() (dul.cc:
// initializeNetworkTCP, receiveTransportConnectionTCP). So we listen on our own socket bound
// to the configured address, accept, and hand each connection to DCMTK through the global.
// The global is shared by every acceptor in the process: this mutex is held from setting it
// to resetting it, which happens before the association is processed.
std::mutex external_socket_mutex;

class external_socket_guard {
 public:
  explicit external_socket_guard(int fd) : lock_(external_socket_mutex) {
    dcmExternalSocketHandle.set(fd);
  }
  ~external_socket_guard() { release(); }
  external_socket_guard(const external_socket_guard&) = delete;
  external_socket_guard& operator=(const external_socket_guard&) = delete;
  void release() {
    if (!lock_.owns_lock()) return;
    dcmExternalSocketHandle.set(-1);
    lock_.unlock();
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

class storage_scp final : public DcmStorageSCP {
 public:
  std::atomic<bool> stop_flag{false};
  int listen_fd = -1;
  external_socket_guard* handing_over = nullptr;  // set while DCMTK receives a connection
  std::string our_ae;
  std::vector<std::string> hosts;
  std::string dir;
  mutable std::mutex mutex;
  mutable std::vector<std::string> files;
  std::set<std::string> refused;                   // proposed classes we do not accept
  std::set<std::string> storage_classes;           // what we accept
  std::map<std::set<std::string>, std::string> profiles;  // proposed classes -> profile name

  // Makes the profile accepting Verification and `classes` (once) and makes it the active one.
  static constexpr std::size_t max_profiles = 64;
  OFCondition select_profile(const std::set<std::string>& classes) {
    if (profiles.size() >= max_profiles && profiles.count(classes) == 0) {
      spdlog::warn("event=store_scp_refused reason=too_many_context_sets");
      return EC_IllegalCall;
    }
    auto [it, added] = profiles.emplace(classes, "STORE" + std::to_string(profiles.size()));
    if (added) {
      const OFList<OFString> all = all_transfer_syntaxes();
      OFCondition cond = addPresentationContext(UID_VerificationSOPClass, all, ASC_SC_ROLE_DEFAULT, it->second.c_str());
      for (const auto& sop : classes)
        if (cond.good()) cond = addPresentationContext(sop.c_str(), all, ASC_SC_ROLE_DEFAULT, it->second.c_str());
      if (cond.bad()) {
        profiles.erase(it);
        spdlog::warn("event=store_scp_refused reason=contexts error=\"{}\"", cond.text());
        return cond;
      }
    }
    return setAndCheckAssociationProfile(it->second.c_str());
  }

 protected:
  // Replaces DCMTK's accept on its INADDR_ANY socket: waits up to 250 ms on our socket (the
  // loop then looks at stop_flag), accepts, and lets DCMTK read the association request from
  // the accepted descriptor (which DCMTK then owns and closes with the association).
  OFCondition waitForAssociationRQ(T_ASC_Network* network) override {
    pollfd pfd{listen_fd, POLLIN, 0};
    int n = ::poll(&pfd, 1, 250);
    if (n <= 0 || !(pfd.revents & POLLIN)) return EC_Normal;  // timeout (or EINTR): loop again
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return EC_Normal;  // the peer went away before accept
    if (fd == 0) {  // DCMTK takes only a descriptor > 0 as the external socket
      int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 1);
      ::close(fd);
      if (moved < 0) return EC_Normal;
      fd = moved;
    }
    external_socket_guard guard(fd);
    handing_over = &guard;
    OFCondition cond = DcmStorageSCP::waitForAssociationRQ(network);
    handing_over = nullptr;
    return cond;
  }
  // Called once DCMTK has read the request from our descriptor: the global is no longer needed.
  OFCondition processAssociationRQ() override {
    if (handing_over) handing_over->release();
    return DcmStorageSCP::processAssociationRQ();
  }
  // DCMTK holds at most 128 presentation contexts per acceptor profile, fewer than the storage
  // SOP classes it knows; a requestor proposes at most 128 contexts. So each association is
  // negotiated against a profile of the storage classes it proposes (made once per set).
  // Only for a peer DCMTK's checks will accept (they run after this hook), so a stranger cannot
  // make profiles; at most max_profiles sets, then associations are refused.
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& action) override {
    DcmStorageSCP::notifyAssociationRequest(params, action);
    if (!peer_allowed() || our_ae != params.DULparams.calledAPTitle) return;
    auto* p = const_cast<T_ASC_Parameters*>(&params);  // only read: DCMTK's getters are not const
    std::set<std::string> proposed;
    const int n = ASC_countPresentationContexts(p);
    for (int i = 0; i < n; ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(p, i, &pc).bad()) continue;
      if (storage_classes.count(pc.abstractSyntax) != 0) {
        proposed.insert(pc.abstractSyntax);
      } else if (std::strcmp(pc.abstractSyntax, UID_VerificationSOPClass) != 0) {
        std::lock_guard lock(mutex);
        refused.insert(pc.abstractSyntax);
      }
    }
    if (select_profile(proposed).bad()) action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
  }
  OFBool stopAfterCurrentAssociation() override { return stop_flag.load(); }
  OFBool stopAfterConnectionTimeout() override { return stop_flag.load(); }
  OFBool checkCalledAETitleAccepted(const OFString& called) override {
    return std::string(called.c_str()) == our_ae;
  }
  // DCMTK hands this hook the *called* address; the peer's IP comes from getPeerIP().
  OFBool checkCallingHostAccepted(const OFString& /*called_address*/) override {
    if (peer_allowed()) return OFTrue;
    spdlog::warn("event=store_scp_refused reason=unknown_host peer={}", getPeerIP().c_str());
    return OFFalse;
  }
  bool peer_allowed() const {
    const std::string peer = getPeerIP().c_str();
    return std::find(hosts.begin(), hosts.end(), peer) != hosts.end();
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
  ~impl() {
    if (scp.listen_fd >= 0) ::close(scp.listen_fd);
  }
};

namespace {

// A listening TCP socket bound to address:port only. Errors: invalid_config, io_error.
result<int> listen_on(const std::string& address, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1)
    return fail(errc::invalid_config, "C-STORE SCP address is not an IPv4 address");
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(errc::io_error, std::string("C-STORE SCP socket: ") + std::strerror(errno));
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return fail(errc::io_error, "C-STORE SCP cannot listen on " + address + ":" +
                                    std::to_string(port) + ": " + why);
  }
  return fd;
}

}  // namespace

store_scp::store_scp() : impl_(std::make_unique<impl>()) {}
store_scp::~store_scp() { stop(); }

status store_scp::start(const std::string& address, std::uint16_t port, const std::string& ae_title,
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
  scp.setConnectionTimeout(1);  // reading the association request of an accepted connection
  scp.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scp.setDIMSETimeout(timeout_s);
  scp.setACSETimeout(timeout_s);
  scp.setHostLookupEnabled(OFFalse);
  scp.setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
  if (scp.setOutputDirectory(scp.dir.c_str()).bad())
    return fail(errc::io_error, "C-STORE SCP: output directory is not writable");
  scp.setDatasetStorageMode(DcmStorageSCP::DGM_StoreBitPreserving);
  scp.setFilenameExtension(".dcm");
  for (const char* sop : all_storage_sop_classes()) scp.storage_classes.insert(sop);
  if (OFCondition c = scp.select_profile({}); c.bad())
    return fail(errc::internal, std::string("C-STORE SCP contexts: ") + c.text());
  auto fd = listen_on(address, port);
  if (!fd) return fd.err();
  if (scp.listen_fd >= 0) ::close(scp.listen_fd);
  scp.listen_fd = *fd;
  OFCondition cond;
  {
    // With the global set, DCMTK creates its network without a listening socket of its own.
    external_socket_guard no_dcmtk_listener(scp.listen_fd);
    cond = scp.openListenPort();
  }
  if (cond.bad())
    return fail(errc::io_error, std::string("C-STORE SCP network: ") + cond.text());
  impl_->thread = std::thread([this] { impl_->scp.acceptAssociations(); });
  return {};
}

void store_scp::stop() noexcept {
  impl_->scp.stop_flag = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->scp.listen_fd >= 0) {
    ::close(impl_->scp.listen_fd);
    impl_->scp.listen_fd = -1;
  }
}

std::vector<std::string> store_scp::stored_files() const {
  std::lock_guard lock(impl_->scp.mutex);
  return impl_->scp.files;
}

std::vector<std::string> store_scp::refused_classes() const {
  std::lock_guard lock(impl_->scp.mutex);
  return {impl_->scp.refused.begin(), impl_->scp.refused.end()};
}

}  // namespace dm2::pacs::detail
