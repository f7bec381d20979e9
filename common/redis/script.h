#pragma once

// Lua scripts. Every script is registered once (a static Script object in the store that owns
// it); the client loads all registered scripts with SCRIPT LOAD on each (re)connect and calls
// them with EVALSHA, falling back to EVAL when Redis answers NOSCRIPT (e.g. after SCRIPT FLUSH).

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trellis::redis {

// Whether a script stores anything the service acknowledges. With replicated durability
// (PoolOptions::wait_replicas) a write script's reply waits for the replicas; a read's does not
// (a cache it refreshes on the side may be lost with a failover: it is rebuilt on demand).
enum class ScriptAccess { kWrite, kRead };

class Script {
 public:
  // Registers the script. `name` is for logs and metrics. Construct only with static storage
  // duration (scripts live for the whole process).
  Script(absl::string_view name, absl::string_view body,
         ScriptAccess access = ScriptAccess::kWrite);
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;

  const std::string& name() const { return name_; }
  const std::string& body() const { return body_; }
  const std::string& sha1() const { return sha1_; }  // lower-case hex
  bool writes() const { return access_ == ScriptAccess::kWrite; }

  // Every script registered so far.
  static std::vector<const Script*> All();

 private:
  std::string name_;
  std::string body_;
  std::string sha1_;
  ScriptAccess access_;
};

}  // namespace trellis::redis
