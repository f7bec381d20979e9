#pragma once

// Test harness: runs a real binary as a child process with its output in files.

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace trellis::testing {

class Process {
 public:
  // Starts `argv` with stdout and stderr redirected to the given files; `env` entries are added
  // to (or replace) the inherited environment.
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(
      const std::vector<std::string>& argv, const std::string& stdout_path,
      const std::string& stderr_path, const std::map<std::string, std::string>& env = {});
  ~Process();  // SIGKILLs the child if it still runs

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `limit` for the child to exit; returns its exit code, or -(signal) when killed
  // by a signal, or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration limit);

 private:
  pid_t pid_ = -1;
};

// Waits up to `limit` for a line containing `needle` to appear in the file; returns the line.
absl::StatusOr<std::string> WaitForLine(const std::string& path, const std::string& needle,
                                        absl::Duration limit);

std::string ReadFile(const std::string& path);

}  // namespace trellis::testing
