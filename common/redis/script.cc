#include "common/redis/script.h"

#include <openssl/sha.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"

namespace trellis::redis {
namespace {

struct Registry {
  absl::Mutex mu;
  std::vector<const Script*> scripts ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

Script::Script(absl::string_view name, absl::string_view body, ScriptAccess access)
    : name_(name), body_(body), access_(access) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body_.data()), body_.size(), digest);
  sha1_ = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), SHA_DIGEST_LENGTH));
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  r.scripts.push_back(this);
}

std::vector<const Script*> Script::All() {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  return r.scripts;
}

}  // namespace trellis::redis
