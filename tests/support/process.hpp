// A child process for tests: spawned with arguments, stdout and stderr captured to files,
// killed (SIGKILL) at scope exit if still running. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dm2::test {

class child_process {
 public:
  // Starts `program` with `args`; output goes to <output_dir>/<name>.out and .err.
  child_process(const std::filesystem::path& program, const std::vector<std::string>& args,
                const std::filesystem::path& output_dir, const std::string& name = "child");
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  // Sends a signal (no-op once reaped).
  void signal(int sig);
  // Waits for exit; the exit code (128 + signal number if killed), or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path out_, err_;
};

// The path of a built program, from the DM2_BINARY_DIR the test runner sets ("node/dm2d").
std::filesystem::path built_program(const std::string& relative);

// Polls until `path` exists and is non-empty, or the timeout passes.
bool wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds timeout);

}  // namespace dm2::test
