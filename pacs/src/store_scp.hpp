// In-process C-STORE SCP: the destination of our C-MOVEs (internal).
// start() binds address:port synchronously (so the PACS can connect as soon as it returns), then
// a thread accepts associations until stop(). DCMTK 3.6.7 would listen on every interface, so the
// listening socket is ours and DCMTK only ever sees accepted connections (see store_scp.cpp). Accepts only associations whose called AE title is
// ours and whose peer is one of `allowed_hosts`. Files are written bit-preserving, named
// <SOPInstanceUID>.dcm. Accepts every storage SOP class DCMTK knows (dcmAllStorageSOPClassUIDs)
// in every transfer syntax we read. Thread-safe: stored_files() may be called while running.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::pacs::detail {

class store_scp {
 public:
  store_scp();
  ~store_scp();  // stops if running
  store_scp(const store_scp&) = delete;
  store_scp& operator=(const store_scp&) = delete;

  // `address` is an IPv4 literal. Errors: invalid_config (bad address), io_error (port cannot be
  // bound, dest_dir not writable).
  status start(const std::string& address, std::uint16_t port, const std::string& ae_title,
               std::vector<std::string> allowed_hosts, const std::filesystem::path& dest_dir,
               unsigned timeout_s);
  // Waits for the current association to finish (at most ~0.25 s after it ends). Never fails.
  void stop() noexcept;

  std::vector<std::string> stored_files() const;
  // SOP classes a peer proposed that are not storage classes DCMTK knows (so were refused).
  std::vector<std::string> refused_classes() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::pacs::detail
