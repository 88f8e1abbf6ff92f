#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace dm2::test {

child_process::child_process(const std::filesystem::path& program, const std::vector<std::string>& args,
                             const std::filesystem::path& output_dir, const std::string& name)
    : out_(output_dir / (name + ".out")), err_(output_dir / (name + ".err")) {
  std::vector<std::string> argv_storage{program.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  // fork + exec rather than posix_spawn, to set PR_SET_PDEATHSIG: a server started by a test
  // dies with the test process even if the test crashes. Only async-signal-safe calls after fork.
  int rc = 0;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
    ::execve(program.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  if (pid_ < 0) rc = errno;
  if (rc != 0) throw std::runtime_error("cannot start " + program.string());
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
}

void child_process::signal(int sig) {
  if (!exit_code_) ::kill(pid_, sig);
}

bool child_process::running() {
  if (exit_code_) return false;
  return !wait(std::chrono::milliseconds(0)).has_value();
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

std::string child_process::stdout_text() const { return slurp(out_); }
std::string child_process::stderr_text() const { return slurp(err_); }

std::filesystem::path built_program(const std::string& relative) {
  const char* dir = std::getenv("DM2_BINARY_DIR");
  if (!dir) throw std::runtime_error("DM2_BINARY_DIR is not set (run the tests through ctest)");
  return std::filesystem::path(dir) / relative;
}

bool wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace dm2::test
