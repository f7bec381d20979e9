#pragma once

// Lua scripts. Every script is registered once (a static Script object in the store that owns
// it); the client loads all registered scripts with SCRIPT LOAD on each (re)connect and calls
// them with EVALSHA, falling back to EVAL when Redis answers NOSCRIPT (e.g. after SCRIPT FLUSH).

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trellis::redis {

class Script {
 public:
  // Registers the script. `name` is for logs and metrics. Construct only with static storage
  // duration (scripts live for the whole process).
  Script(absl::string_view name, absl::string_view body);
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;

  const std::string& name() const { return name_; }
  const std::string& body() const { return body_; }
  const std::string& sha1() const { return sha1_; }  // lower-case hex

  // Every script registered so far.
  static std::vector<const Script*> All();

 private:
  std::string name_;
  std::string body_;
  std::string sha1_;
};

}  // namespace trellis::redis
