// The C-MOVE destination (internal store_scp) listens on the configured address only, and
// still receives through DCMTK when it does. Runs in the normal network namespace: it only ever
// binds 127.0.0.x.
#include "store_scp.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pacs_server_fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

struct listener {
  std::string family;   // "tcp" or "tcp6"
  std::string address;  // as /proc prints it (hex)
};

// TCP sockets in LISTEN state on `port`, from /proc/net/tcp and /proc/net/tcp6.
std::vector<listener> listeners_on(std::uint16_t port) {
  std::vector<listener> out;
  for (const char* family : {"tcp", "tcp6"}) {
    std::ifstream in(std::string("/proc/net/") + family);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (colon == std::string::npos || state != "0A") continue;  // 0A = LISTEN
      if (std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
      out.push_back({family, local.substr(0, colon)});
    }
  }
  return out;
}

// /proc prints an IPv4 address as the hex of the in-memory (network order) 32-bit value.
std::string proc_hex(const char* ipv4) {
  in_addr a{};
  EXPECT_EQ(::inet_pton(AF_INET, ipv4, &a), 1);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", a.s_addr);
  return buf;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(store_scp, listens_on_the_configured_loopback_address_only) {
  test::temp_dir tmp;
  for (const char* address : {"127.0.0.1", "127.0.0.2"}) {
    const std::uint16_t port = test::free_port();
    ASSERT_NE(port, 0);
    detail::store_scp scp;
    ASSERT_TRUE(scp.start(address, port, "DM2TEST", {"127.0.0.1"}, tmp.path(), 5).ok());
    auto found = listeners_on(port);
    ASSERT_EQ(found.size(), 1u) << "expected exactly one listening socket on port " << port;
    EXPECT_EQ(found[0].family, "tcp");
    EXPECT_EQ(found[0].address, proc_hex(address)) << "not bound to " << address;
    EXPECT_NE(found[0].address, "00000000");
    scp.stop();
    EXPECT_TRUE(listeners_on(port).empty()) << "stop() left the port listening";
  }
}

TEST(store_scp, refuses_an_address_that_is_not_ipv4) {
  test::temp_dir tmp;
  detail::store_scp scp;
  auto s = scp.start("localhost", test::free_port(), "DM2TEST", {"127.0.0.1"}, tmp.path(), 5);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().code, errc::invalid_config);
}

TEST(store_scp, receives_through_its_own_socket_and_leaks_no_descriptor) {
  test::temp_dir tmp;
  std::filesystem::create_directories(tmp.path() / "in");
  std::filesystem::create_directories(tmp.path() / "out");
  test::synthetic_options opt;
  opt.slices = 2;
  opt.rows = opt.columns = 16;
  auto series = test::write_synthetic_series(tmp.path() / "in", opt);

  const std::size_t before = open_descriptors();
  const std::uint16_t port = test::free_port();
  {
    detail::store_scp scp;
    ASSERT_TRUE(scp.start("127.0.0.1", port, "DM2TEST", {"127.0.0.1"}, tmp.path() / "out", 5).ok());
    // Two associations: the listening socket stays ours across connections.
    for (const auto& file : series.files) {
      test::child_process p("/usr/bin/storescu",
                            {"-aet", "SENDER", "-aec", "DM2TEST", "127.0.0.1",
                             std::to_string(port), file.string()},
                            tmp.path(), "storescu");
      auto rc = p.wait(std::chrono::seconds(30));
      ASSERT_TRUE(rc && *rc == 0) << p.stderr_text() << p.stdout_text();
    }
    // A wrong called AE title is rejected (DCMTK still does the association checks).
    test::child_process bad("/usr/bin/storescu",
                            {"-aet", "SENDER", "-aec", "NOTUS", "127.0.0.1", std::to_string(port),
                             series.files[0].string()},
                            tmp.path(), "storescu");
    auto rc = bad.wait(std::chrono::seconds(30));
    EXPECT_TRUE(rc && *rc != 0);
    scp.stop();
    EXPECT_EQ(scp.stored_files().size(), 2u);
  }
  for (const auto& uid : series.sop_uids)
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "out" / (uid + ".dcm"))) << uid;
  EXPECT_EQ(open_descriptors(), before) << "a socket was left open";
}

TEST(store_scp, accepts_every_storage_class_and_names_a_private_one) {
  test::temp_dir tmp;
  std::filesystem::create_directories(tmp.path() / "out");
  // One association proposing many storage classes at once, most outside the old C-GET list.
  std::vector<std::string> files;
  std::vector<std::string> uids;
  test::synthetic_options opt;
  opt.slices = 1;
  opt.rows = opt.columns = 8;
  for (const char* modality : {"CR", "DX", "MG", "US", "XA", "CT"}) {
    opt.modality = modality;
    auto dir = tmp.path() / "in" / modality;
    std::filesystem::create_directories(dir);
    auto one = test::write_synthetic_series(dir, opt);
    files.push_back(one.files[0].string());
    uids.push_back(one.sop_uids[0]);
  }
  if (auto pydicom = test::pydicom_test_files(); !pydicom.empty())
    for (const char* name : {"rtplan.dcm", "rtstruct.dcm", "test-SR.dcm", "waveform_ecg.dcm"})
      files.push_back((pydicom / name).string());
  opt.modality = "CR";
  opt.sop_class = "1.2.826.0.1.3680043.8.498.4242.1";  // private: in no list
  std::filesystem::create_directories(tmp.path() / "in" / "private");
  auto unknown = test::write_synthetic_series(tmp.path() / "in" / "private", opt);

  const std::uint16_t port = test::free_port();
  detail::store_scp scp;
  ASSERT_TRUE(scp.start("127.0.0.1", port, "DM2TEST", {"127.0.0.1"}, tmp.path() / "out", 5).ok());
  std::vector<std::string> args = {"-aet", "SENDER", "-aec", "DM2TEST", "127.0.0.1", std::to_string(port)};
  args.insert(args.end(), files.begin(), files.end());
  test::child_process send("/usr/bin/storescu", args, tmp.path(), "storescu");
  auto rc = send.wait(std::chrono::seconds(30));
  ASSERT_TRUE(rc && *rc == 0) << send.stderr_text() << send.stdout_text();
  // storescu refuses an unknown class itself; dcmsend proposes it, and we refuse it.
  test::child_process odd("/usr/bin/dcmsend",
                          {"-aet", "SENDER", "-aec", "DM2TEST", "--no-uid-checks", "127.0.0.1",
                           std::to_string(port), unknown.files[0].string()},
                          tmp.path(), "dcmsend");
  (void)odd.wait(std::chrono::seconds(30));
  scp.stop();
  EXPECT_EQ(scp.stored_files().size(), files.size());
  for (const auto& uid : uids) EXPECT_TRUE(std::filesystem::exists(tmp.path() / "out" / (uid + ".dcm"))) << uid;
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "out" / (unknown.sop_uids[0] + ".dcm")));
  EXPECT_EQ(scp.refused_classes(), std::vector<std::string>{opt.sop_class});
}

}  // namespace
}  // namespace dm2::pacs
