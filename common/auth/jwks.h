#pragma once

// Public keys for RS256 and ES256 bearer tokens: a JSON Web Key Set (RFC 7517) read from a file
// that is re-read when it changes, so keys rotate without a restart (DESIGN.md §6).
//
// Error messages name the key by its position and kid only; they never contain key material.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace trellis::auth {

struct VerificationKey {
  std::string kid;  // empty when the JWK has none
  std::string alg;  // "RS256" or "ES256"
  std::string pem;  // SubjectPublicKeyInfo PEM, the form cpp-jwt's verifiers take
};

// Parses a JWKS document. Usable keys are `kty: RSA` (alg RS256 or absent, modulus of at least
// 2048 bits) and `kty: EC` with `crv: P-256` (alg ES256 or absent); keys of other types, curves or
// algorithms and keys with a `use` other than "sig" are skipped. INVALID_ARGUMENT when the
// document is not a JWKS, a usable-looking key is malformed (bad base64url, a point off the curve,
// a short modulus), two usable keys share a kid, or no usable key is left.
absl::StatusOr<std::vector<VerificationKey>> ParseJwks(absl::string_view json);

// Reads and parses a JWKS file; INVALID_ARGUMENT naming `field` (a flag) when it cannot.
absl::StatusOr<std::vector<VerificationKey>> ReadJwksFile(const std::string& path,
                                                          absl::string_view field);

// One version of the key set: immutable, shared by the verifications that use it.
class KeySet {
 public:
  KeySet(std::vector<VerificationKey> keys, uint64_t generation)
      : keys_(std::move(keys)), generation_(generation) {}

  // The key a token with header `alg` and `kid` must verify against: the key with that kid if
  // its algorithm is `alg`; without a kid, the only key for `alg`. nullptr otherwise (unknown
  // kid, kid of a key for another algorithm, or no kid and zero or several candidates).
  const VerificationKey* Select(absl::string_view alg, const std::optional<std::string>& kid) const;

  // Grows by one with every successful (re-)read, so a verified-token cache can tell that the
  // keys it trusted may be gone.
  uint64_t generation() const { return generation_; }
  size_t size() const { return keys_.size(); }

 private:
  std::vector<VerificationKey> keys_;
  uint64_t generation_;
};

// A JWKS file kept current. Thread-safe. Holds no keys (generation 0) until a read succeeds.
class JwksFile {
 public:
  // `field` (a flag name) is named in errors; `check_interval` bounds how often Keys() looks at
  // the file. Call Reload() once to read it.
  JwksFile(std::string path, std::string field, absl::Duration check_interval)
      : path_(std::move(path)),
        field_(std::move(field)),
        check_interval_(check_interval),
        keys_(std::make_shared<const KeySet>(std::vector<VerificationKey>{}, 0)) {}

  // The current keys. When `check_interval` has passed since the last look (by `now`), stats the
  // file and re-reads it if its modification time, size or inode changed. A re-read that fails
  // keeps the previous keys and logs a warning (and is tried again at the next change).
  std::shared_ptr<const KeySet> Keys(absl::Time now);

  // Reads the file now, whatever its stat says. On error (INVALID_ARGUMENT naming the field) the
  // previous keys stay.
  absl::Status Reload();

 private:
  struct FileStamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };

  static std::optional<FileStamp> Stat(const std::string& path);
  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const std::string field_;
  const absl::Duration check_interval_;
  absl::Mutex mu_;
  std::shared_ptr<const KeySet> keys_ ABSL_GUARDED_BY(mu_);
  std::optional<FileStamp> stamp_ ABSL_GUARDED_BY(mu_);  // of the last read attempted
  absl::Time next_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace trellis::auth
