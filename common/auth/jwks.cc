#include "common/auth/jwks.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <openssl/core_names.h>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/auth/openssl_key.h"
#include "common/log/log.h"
#include "common/status/status.h"

namespace trellis::auth {
namespace {

constexpr size_t kMaxJwksBytes = 1 << 20;
constexpr size_t kMaxKeys = 64;
constexpr int kMinRsaBits = 2048;
constexpr size_t kP256CoordinateBytes = 32;

using openssl::Bignum;
using openssl::Pkey;

// The base64url member `name` of `jwk`, decoded; empty when absent or not base64url.
std::string Base64UrlMember(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return "";
  std::string out;
  if (!absl::WebSafeBase64Unescape(it->get<std::string>(), &out)) return "";
  return out;
}

std::string StringMember(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  return (it != jwk.end() && it->is_string()) ? it->get<std::string>() : "";
}

Bignum ToBignum(const std::string& big_endian) {
  return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                          static_cast<int>(big_endian.size()), nullptr));
}

// Builds a public key of OpenSSL type `type` ("RSA", "EC") from the parameters in `bld` and checks
// it: an EC point must lie on the curve, an RSA modulus and exponent must pass SP 800-56B.
Pkey PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  openssl::Params params(OSSL_PARAM_BLD_to_param(bld));
  openssl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  Pkey key(raw);
  openssl::PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

absl::StatusOr<Pkey> RsaPublicKey(const nlohmann::json& jwk) {
  std::string n = Base64UrlMember(jwk, "n");
  std::string e = Base64UrlMember(jwk, "e");
  if (n.empty() || e.empty() || e.size() > 8) {
    return absl::InvalidArgumentError("needs base64url \"n\" and \"e\"");
  }
  Bignum bn_n = ToBignum(n);
  Bignum bn_e = ToBignum(e);
  openssl::ParamBld bld(OSSL_PARAM_BLD_new());
  if (bn_n == nullptr || bn_e == nullptr || bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError("OpenSSL could not build the RSA parameters");
  }
  Pkey key = PublicKeyFromParams("RSA", bld.get());
  if (key == nullptr) return absl::InvalidArgumentError("is not a valid RSA public key");
  if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA modulus must have at least ", kMinRsaBits, " bits"));
  }
  return key;
}

absl::StatusOr<Pkey> P256PublicKey(const nlohmann::json& jwk) {
  std::string x = Base64UrlMember(jwk, "x");
  std::string y = Base64UrlMember(jwk, "y");
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    return absl::InvalidArgumentError("needs base64url \"x\" and \"y\" of 32 bytes each");
  }
  std::string point = absl::StrCat("\x04", x, y);  // uncompressed SEC1 point
  openssl::ParamBld bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError("OpenSSL could not build the EC parameters");
  }
  Pkey key = PublicKeyFromParams("EC", bld.get());
  if (key == nullptr) return absl::InvalidArgumentError("is not a point on P-256");
  return key;
}

// Which algorithm `jwk` is usable for: "RS256", "ES256", or empty to skip it.
std::string UsableAlgorithm(const nlohmann::json& jwk) {
  std::string use = StringMember(jwk, "use");
  if (jwk.contains("use") && use != "sig") return "";
  std::string kty = StringMember(jwk, "kty");
  std::string alg = StringMember(jwk, "alg");
  if (kty == "RSA" && (alg.empty() || alg == "RS256")) return "RS256";
  if (kty == "EC" && StringMember(jwk, "crv") == "P-256" && (alg.empty() || alg == "ES256")) {
    return "ES256";
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<VerificationKey>> ParseJwks(absl::string_view json) {
  if (json.size() > kMaxJwksBytes) {
    return absl::InvalidArgumentError(absl::StrCat("larger than ", kMaxJwksBytes, " bytes"));
  }
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return absl::InvalidArgumentError("is not JSON");
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) {
    return absl::InvalidArgumentError("has no \"keys\" array");
  }
  if (keys->size() > kMaxKeys) {
    return absl::InvalidArgumentError(absl::StrCat("has more than ", kMaxKeys, " keys"));
  }
  std::vector<VerificationKey> out;
  absl::flat_hash_set<std::string> kids;
  for (size_t i = 0; i < keys->size(); ++i) {
    const nlohmann::json& jwk = (*keys)[i];
    if (!jwk.is_object())
      return absl::InvalidArgumentError(absl::StrCat("keys[", i, "]: not an object"));
    VerificationKey key;
    key.alg = UsableAlgorithm(jwk);
    if (key.alg.empty()) continue;
    if (jwk.contains("kid") && !jwk["kid"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("keys[", i, "]: \"kid\" must be a string"));
    }
    key.kid = StringMember(jwk, "kid");
    std::string where = absl::StrCat("keys[", i, "]", key.kid.empty() ? "" : " (kid \"", key.kid,
                                     key.kid.empty() ? "" : "\")");
    if (!key.kid.empty() && !kids.insert(key.kid).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate kid"));
    }
    absl::StatusOr<Pkey> pkey = key.alg == "RS256" ? RsaPublicKey(jwk) : P256PublicKey(jwk);
    if (!pkey.ok()) {
      return absl::Status(pkey.status().code(), absl::StrCat(where, ": ", pkey.status().message()));
    }
    key.pem = openssl::PublicPem(pkey->get());
    if (key.pem.empty()) return absl::InternalError("OpenSSL could not write a public key");
    out.push_back(std::move(key));
  }
  if (out.empty()) return absl::InvalidArgumentError("has no RS256 or ES256 signing key");
  return out;
}

absl::StatusOr<std::vector<VerificationKey>> ReadJwksFile(const std::string& path,
                                                          absl::string_view field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidField(field, absl::StrCat("cannot read the JWKS file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto keys = ParseJwks(ss.str());
  if (!keys.ok()) {
    return InvalidField(field,
                        absl::StrCat("the JWKS file '", path, "' ", keys.status().message()));
  }
  return keys;
}

const VerificationKey* KeySet::Select(absl::string_view alg,
                                      const std::optional<std::string>& kid) const {
  const VerificationKey* found = nullptr;
  for (const VerificationKey& key : keys_) {
    if (kid.has_value()) {
      if (key.kid == *kid) return key.alg == alg ? &key : nullptr;
    } else if (key.alg == alg) {
      if (found != nullptr) return nullptr;  // ambiguous without a kid
      found = &key;
    }
  }
  return found;
}

std::optional<JwksFile::FileStamp> JwksFile::Stat(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  FileStamp stamp;
  stamp.device = st.st_dev;
  stamp.inode = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return stamp;
}

absl::Status JwksFile::ReloadLocked() {
  stamp_ = Stat(path_);
  auto keys = ReadJwksFile(path_, field_);
  if (!keys.ok()) return keys.status();
  keys_ = std::make_shared<const KeySet>(std::move(*keys), keys_->generation() + 1);
  return absl::OkStatus();
}

absl::Status JwksFile::Reload() {
  absl::MutexLock lock(&mu_);
  return ReloadLocked();
}

std::shared_ptr<const KeySet> JwksFile::Keys(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (now >= next_check_) {
    next_check_ = now + check_interval_;
    if (Stat(path_) != stamp_) {
      absl::Status reloaded = ReloadLocked();
      if (reloaded.ok()) {
        log::Info("JWKS reloaded",
                  {{"flag", field_}, {"keys", keys_->size()}, {"generation", keys_->generation()}});
      } else {
        // The message names the file and what is wrong with it, never key material.
        log::Warn("JWKS reload failed; keeping the previous keys",
                  {{"flag", field_}, {"error", std::string(reloaded.message())}});
      }
    }
  }
  return keys_;
}

}  // namespace trellis::auth
