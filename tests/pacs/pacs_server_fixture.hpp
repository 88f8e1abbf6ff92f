// Real PACS servers for tests, on 127.0.0.1 with free ports and temporary storage:
// Orthanc (Debian package) and DCMTK's dcmqrscp. Each server is started by start() and killed
// by its destructor; storage lives in the caller's directory. Not thread-safe.
//
// Neither server can be told which address to listen on (Orthanc 1.10 has no DICOM bind
// address, dcmqrscp 3.6.7 binds INADDR_ANY), so they only ever run inside a private network
// namespace whose only interface is loopback: start() first moves this process into one
// (confine_to_private_network) and refuses to start a server if that is impossible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dm2/pacs/pacs_settings.hpp"
#include "support/process.hpp"

namespace dm2::test {

// Moves this process (the calling thread and every thread and child it creates afterwards) into
// a new network namespace with only `lo`, brought up; once per process, later calls return the
// first result. Call it from the main thread before starting anything networked. Needs root /
// CAP_SYS_ADMIN. Returns "" or why it cannot (the tests then skip, saying so).
std::string confine_to_private_network();

// Skips the current test (or suite, in SetUpTestSuite) unless the process is confined.
#define DM2_REQUIRE_PRIVATE_NETWORK()                                                   \
  do {                                                                                  \
    if (auto dm2_why = ::dm2::test::confine_to_private_network(); !dm2_why.empty())     \
      GTEST_SKIP() << "test PACS servers listen on all interfaces and must run in a "   \
                      "private network namespace: "                                     \
                   << dm2_why;                                                          \
  } while (false)

// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

// The AE title our SCU uses in tests, known to both servers (with our C-STORE port for C-MOVE).
inline constexpr const char* test_our_ae = "DM2TEST";

class pacs_server {
 public:
  virtual ~pacs_server() { stop(); }
  // Starts the server and waits until it answers C-ECHO. Returns "" or why it failed.
  virtual std::string start() = 0;
  // Settings for our SCU towards this server (store_port = our C-MOVE destination).
  dm2::pacs::pacs_settings settings() const;
  // Sends files with DCMTK's storescu. Returns "" or why it failed.
  std::string upload(const std::vector<std::filesystem::path>& files) const;
  // Sends one file whose SOP class DCMTK does not know (dcmsend). Returns "" or why it failed.
  std::string upload_unchecked(const std::filesystem::path& file) const;
  std::uint16_t port() const { return port_; }
  std::uint16_t store_port() const { return store_port_; }
  const std::string& ae_title() const { return ae_; }
  void stop();
  // The PACS disappears: SIGKILL to the server and to every process it forked (dcmqrscp serves
  // each association in a child of its own, which a kill of the parent alone leaves serving).
  // start() brings it back on the same port with the same storage.
  void kill();

 protected:
  pacs_server(std::filesystem::path dir, std::string ae);
  std::string wait_until_ready();
  std::filesystem::path dir_;
  std::string ae_;
  std::uint16_t port_ = 0;
  std::uint16_t store_port_ = 0;
  std::unique_ptr<child_process> process_;
};

class orthanc_server final : public pacs_server {
 public:
  explicit orthanc_server(std::filesystem::path dir);
  std::string start() override;
};

class dcmqrscp_server final : public pacs_server {
 public:
  explicit dcmqrscp_server(std::filesystem::path dir);
  std::string start() override;
};

// A directory of pydicom's test files, or "" when the package is missing.
std::filesystem::path pydicom_test_files();
// nibabel's tests/data, or "".
std::filesystem::path nibabel_test_data();

}  // namespace dm2::test
