// Crash safety: a child commits records in a loop and is SIGKILLed at random instants; after
// every kill the database reopens with every acknowledged record present and readable, the
// secondary index equal to what the records imply, and the audit chain verifying.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/storage/database.hpp"
#include "support/temp_dir.hpp"

namespace dm2::storage {
namespace {

struct child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
};

child spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads until `line` arrives or the child's stdout closes; returns everything read.
std::string read_until(int fd, std::string_view line, std::string buffer = {}) {
  char chunk[4096];
  while (buffer.find(line) == std::string::npos) {
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  return buffer;
}

TEST(crash, acknowledged_commits_survive_sigkill_at_random_instants) {
  constexpr int cycles = 50;
  dm2::test::temp_dir dir;
  const std::string key = crypto::random_bytes(32);
  auto pem = crypto::generate_private_key(crypto::key_type::ed25519);
  ASSERT_TRUE(pem.ok());
  std::ofstream(dir / "signer.pem") << *pem;
  auto signer = ed25519_audit_signer(*pem);
  ASSERT_TRUE(signer.ok());

  std::mt19937 rng(20261122);
  std::map<std::string, std::uint64_t> acknowledged;  // lfn hex -> highest acknowledged version
  std::uint64_t commits = 0;
  auto started = std::chrono::steady_clock::now();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    child c = spawn({DM2_CRASH_WRITER, (dir / "db").string(), crypto::to_hex(key),
                     (dir / "signer.pem").string(), std::to_string(cycle)});
    ASSERT_GT(c.pid, 0);
    std::string output = read_until(c.out, "ready\n");
    ASSERT_NE(output.find("ready\n"), std::string::npos) << "cycle " << cycle << ": writer did not start";
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 60000)(rng)));
    ::kill(c.pid, SIGKILL);
    int wstatus = 0;
    ::waitpid(c.pid, &wstatus, 0);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "cycle " << cycle << ": writer exited by itself";
    output = read_until(c.out, "\x01", std::move(output));  // drain to EOF
    ::close(c.out);

    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
      if (line == "ready" || lines.eof()) continue;  // a last line without '\n' is not acknowledged
      auto space = line.find(' ');
      ASSERT_NE(space, std::string::npos) << line;
      auto& v = acknowledged[line.substr(0, space)];
      v = std::max<std::uint64_t>(v, std::stoull(line.substr(space + 1)));
      ++commits;
    }

    auto db = database::open(dir / "db", key, {}, *signer);
    ASSERT_TRUE(db.ok()) << "cycle " << cycle << ": " << db.err().to_string();
    for (const auto& [lfn_hex, version] : acknowledged) {
      auto r = (*db)->get_index_record(*crypto::from_hex(lfn_hex));
      ASSERT_TRUE(r.ok()) << "cycle " << cycle << ": " << r.err().to_string();
      ASSERT_TRUE(r->has_value()) << "cycle " << cycle << ": acknowledged record lost";
      ASSERT_GE((*r)->version, version) << "cycle " << cycle << ": acknowledged version lost";
    }
    auto indexes = (*db)->check_indexes();
    ASSERT_TRUE(indexes.ok()) << "cycle " << cycle << ": " << indexes.err().to_string();
    auto audit = (*db)->verify_audit();
    ASSERT_TRUE(audit.ok());
    ASSERT_TRUE(audit->ok()) << "cycle " << cycle << ": " << audit->reason;
    ASSERT_GE((*db)->audit_size(), commits);
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GT(commits, 0u);
  std::printf("crash test: %d kills, %llu acknowledged commits, %zu records, %.1f s\n", cycles,
              static_cast<unsigned long long>(commits), acknowledged.size(), seconds);
}

}  // namespace
}  // namespace dm2::storage
