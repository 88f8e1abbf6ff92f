#include "pacs_server_fixture.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "dm2/pacs/dicom_client.hpp"

namespace dm2::test {

namespace {

// The network interfaces this process sees, by name.
std::vector<std::string> interface_names() {
  std::vector<std::string> names;
  if (struct if_nameindex* all = ::if_nameindex()) {
    for (struct if_nameindex* i = all; i->if_index != 0; ++i) names.emplace_back(i->if_name);
    ::if_freenameindex(all);
  }
  return names;
}

std::string enter_private_network() {
  if (::unshare(CLONE_NEWNET) != 0)
    return std::string("unshare(CLONE_NEWNET) failed (needs root or CAP_SYS_ADMIN): ") +
           std::strerror(errno);
  // A new namespace has `lo` down: bring it up (what `ip link set lo up` does).
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  std::string why;
  if (::ioctl(fd, SIOCGIFFLAGS, &req) != 0) {
    why = std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  } else {
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(fd, SIOCSIFFLAGS, &req) != 0) why = std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  }
  ::close(fd);
  if (!why.empty()) return why;
  if (interface_names() != std::vector<std::string>{"lo"})
    return "the new network namespace has interfaces other than lo";
  return "";
}

}  // namespace

std::string confine_to_private_network() {
  static const std::string result = enter_private_network();
  return result;
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

pacs_server::pacs_server(std::filesystem::path dir, std::string ae)
    : dir_(std::move(dir)), ae_(std::move(ae)) {
  // Ports are picked inside the namespace the server will run in; start() reports a failure.
  (void)confine_to_private_network();
  port_ = free_port();
  store_port_ = free_port();
}

void pacs_server::stop() {
  if (!process_) return;
  process_->signal(SIGTERM);
  if (!process_->wait(std::chrono::seconds(10))) {
    process_->signal(SIGKILL);
    (void)process_->wait(std::chrono::seconds(5));
  }
  process_.reset();
}

namespace {

// The pids whose parent is `parent` (from /proc/<pid>/stat).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long ppid = 0;
    if (rest >> state >> ppid && ppid == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

}  // namespace

void pacs_server::kill() {
  if (!process_) return;
  const pid_t pid = process_->pid();
  ::kill(pid, SIGSTOP);  // forks no more while its children are listed
  for (pid_t child : children_of(pid)) ::kill(child, SIGKILL);
  process_->signal(SIGKILL);
  (void)process_->wait(std::chrono::seconds(5));
  process_.reset();
}

dm2::pacs::pacs_settings pacs_server::settings() const {
  dm2::pacs::pacs_settings s;
  s.host = "127.0.0.1";
  s.port = port_;
  s.called_ae_title = ae_;
  s.calling_ae_title = test_our_ae;
  s.store_port = store_port_;
  s.timeout = std::chrono::seconds(20);
  return s;
}

std::string pacs_server::wait_until_ready() {
  auto s = settings();
  s.timeout = std::chrono::seconds(2);
  std::string last;
  for (int i = 0; i < 150; ++i) {
    if (!process_->running())
      return "server exited: " + process_->stderr_text() + process_->stdout_text();
    dm2::pacs::dicom_client client(s);
    auto r = client.echo();
    if (r) return "";
    last = r.err().to_string();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "server did not answer C-ECHO: " + last;
}

std::string pacs_server::upload(const std::vector<std::filesystem::path>& files) const {
  // --required: storescu proposes each file's own SOP class and transfer syntax, so the server
  // stores what the files hold. Batches keep the command line short.
  const std::size_t batch = 200;
  for (std::size_t at = 0; at < files.size(); at += batch) {
    std::vector<std::string> args = {"-aet", "UPLOADER", "-aec", ae_, "--required", "127.0.0.1",
                                     std::to_string(port_)};
    for (std::size_t i = at; i < files.size() && i < at + batch; ++i) args.push_back(files[i].string());
    child_process p("/usr/bin/storescu", args, dir_, "storescu");
    auto rc = p.wait(std::chrono::seconds(120));
    if (!rc || *rc != 0)
      return "storescu to " + ae_ + ":" + std::to_string(port_) + " failed: " + p.stderr_text() + p.stdout_text();
  }
  return "";
}

std::string pacs_server::upload_unchecked(const std::filesystem::path& file) const {
  // storescu refuses a SOP class DCMTK does not know; dcmsend sends it without UID checks.
  child_process p("/usr/bin/dcmsend",
                  {"-aet", "UPLOADER", "-aec", ae_, "--no-uid-checks", "127.0.0.1", std::to_string(port_), file.string()},
                  dir_, "dcmsend");
  auto rc = p.wait(std::chrono::seconds(60));
  if (!rc || *rc != 0)
    return "dcmsend to " + ae_ + ":" + std::to_string(port_) + " failed: " + p.stderr_text() + p.stdout_text();
  return "";
}

orthanc_server::orthanc_server(std::filesystem::path dir) : pacs_server(std::move(dir), "ORTHANC") {}

std::string orthanc_server::start() {
  if (auto why = confine_to_private_network(); !why.empty()) return "Orthanc not started: " + why;
  std::filesystem::create_directories(dir_ / "storage");
  auto config = dir_ / "orthanc.json";
  std::ofstream out(config);
  out << "{\n"
      << "  \"Name\": \"dm2-test\",\n"
      << "  \"StorageDirectory\": \"" << (dir_ / "storage").string() << "\",\n"
      << "  \"IndexDirectory\": \"" << (dir_ / "storage").string() << "\",\n"
      << "  \"DicomAet\": \"" << ae_ << "\",\n"
      << "  \"DicomPort\": " << port_ << ",\n"
      << "  \"HttpServerEnabled\": false,\n"
      << "  \"HttpPort\": " << free_port() << ",\n"
      << "  \"RemoteAccessAllowed\": false,\n"
      << "  \"DicomCheckCalledAet\": true,\n"
      << "  \"SyncStorageArea\": false,\n"
      << "  \"StorageCompression\": false,\n"
      << "  \"SaveJobs\": false,\n"
      << "  \"DicomThreadsCount\": 8,\n"
      << "  \"DicomAlwaysAllowStore\": true,\n"
      << "  \"UnknownSopClassAccepted\": true,\n"  // tests store a private SOP class
      << "  \"DicomAssociationCloseDelay\": 0,\n"
      << "  \"Plugins\": [],\n"
      << "  \"DicomModalities\": { \"dm2\": [ \"" << test_our_ae << "\", \"127.0.0.1\", " << store_port_
      << " ] }\n"
      << "}\n";
  out.close();
  process_ = std::make_unique<child_process>("/usr/sbin/Orthanc", std::vector<std::string>{config.string()},
                                             dir_, "orthanc");
  return wait_until_ready();
}

dcmqrscp_server::dcmqrscp_server(std::filesystem::path dir) : pacs_server(std::move(dir), "QRSCP") {}

std::string dcmqrscp_server::start() {
  if (auto why = confine_to_private_network(); !why.empty()) return "dcmqrscp not started: " + why;
  std::filesystem::create_directories(dir_ / "db");
  auto config = dir_ / "dcmqrscp.cfg";
  std::ofstream out(config);
  out << "NetworkTCPPort = " << port_ << "\n"
      << "MaxPDUSize = 65536\nMaxAssociations = 16\n\n"
      << "HostTable BEGIN\n"
      << "dm2 = (" << test_our_ae << ", 127.0.0.1, " << store_port_ << ")\n"
      << "HostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
      << "AETable BEGIN\n"
      << ae_ << " " << (dir_ / "db").string() << " RW (500, 1024mb) ANY\n"
      << "AETable END\n";
  out.close();
  process_ = std::make_unique<child_process>(
      "/usr/bin/dcmqrscp",
      std::vector<std::string>{"-c", config.string(), std::to_string(port_)}, dir_,
      "dcmqrscp");
  return wait_until_ready();
}

std::filesystem::path pydicom_test_files() {
  std::filesystem::path p = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
  return std::filesystem::is_directory(p) ? p : std::filesystem::path{};
}

std::filesystem::path nibabel_test_data() {
  std::filesystem::path p = "/usr/lib/python3/dist-packages/nibabel/tests/data";
  return std::filesystem::is_directory(p) ? p : std::filesystem::path{};
}

}  // namespace dm2::test
