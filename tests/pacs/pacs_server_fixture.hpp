// Real PACS servers for tests, on 127.0.0.1 with free ports and temporary storage:
// Orthanc (Debian package) and DCMTK's dcmqrscp. Each server is started by start() and killed
// by its destructor; storage lives in the caller's directory. Not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dm2/pacs/pacs_settings.hpp"
#include "support/process.hpp"

namespace dm2::test {

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
  std::uint16_t port() const { return port_; }
  std::uint16_t store_port() const { return store_port_; }
  const std::string& ae_title() const { return ae_; }
  void stop();

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
