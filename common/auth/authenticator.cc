#include "common/auth/authenticator.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include <openssl/crypto.h>
#include <jwt/jwt.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/ids/ids.h"
#include "common/log/log.h"
#include "common/status/status.h"

namespace trellis::auth {
namespace {

constexpr size_t kMaxCachedTokens = 100000;
constexpr size_t kMaxTokenBytes = 8192;

// A compact JWS (RFC 7515 section 7.1) is unpadded base64url text in parts separated by dots.
// Anything else is refused before any decoding (an early filter kept from fuzz/jwt, which found
// cpp-jwt's own decoder reading out of bounds on bytes >= 0x80; claims are no longer read by
// cpp-jwt, see VerifyUncached).
bool IsCompactJwsText(absl::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

absl::Status Unauthenticated(absl::string_view reason) {
  return WithReason(absl::UnauthenticatedError("missing or invalid credentials"), reason);
}

bool ParseRole(const std::string& text, trellis::v1::Role* role) {
  if (text == "clinician")
    *role = trellis::v1::ROLE_CLINICIAN;
  else if (text == "client")
    *role = trellis::v1::ROLE_CLIENT;
  else if (text == "service")
    *role = trellis::v1::ROLE_SERVICE;
  else if (text == "admin")
    *role = trellis::v1::ROLE_ADMIN;
  else
    return false;
  return true;
}

const char* RoleName(trellis::v1::Role role) {
  switch (role) {
    case trellis::v1::ROLE_CLINICIAN:
      return "clinician";
    case trellis::v1::ROLE_CLIENT:
      return "client";
    case trellis::v1::ROLE_SERVICE:
      return "service";
    case trellis::v1::ROLE_ADMIN:
      return "admin";
    default:
      return "";
  }
}

// Splits a compact JWS into its three non-empty base64url segments.
bool SplitCompactJws(absl::string_view token, absl::string_view parts[3]) {
  size_t first = token.find('.');
  if (first == absl::string_view::npos) return false;
  size_t second = token.find('.', first + 1);
  if (second == absl::string_view::npos || token.find('.', second + 1) != absl::string_view::npos) {
    return false;
  }
  parts[0] = token.substr(0, first);
  parts[1] = token.substr(first + 1, second - first - 1);
  parts[2] = token.substr(second + 1);
  return !parts[0].empty() && !parts[1].empty() && !parts[2].empty();
}

// A base64url segment holding a JSON object; nullopt when it is anything else.
std::optional<nlohmann::json> DecodeJsonSegment(absl::string_view segment) {
  std::string text;
  if (!absl::WebSafeBase64Unescape(segment, &text)) return std::nullopt;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

// Whether `signature` (base64url) signs `signing_input` under `key` with `alg` (HS256, RS256,
// ES256; ES256 signatures are the JWS R||S form, which is what cpp-jwt reads and writes).
bool SignatureHolds(absl::string_view alg, absl::string_view key, absl::string_view signing_input,
                    absl::string_view signature) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(signature, &raw)) return false;
  jwt::string_view jwt_key(key.data(), key.size());
  jwt::string_view input(signing_input.data(), signing_input.size());
  try {
    if (alg == "HS256") {
      auto [mac, ec] = jwt::HMACSign<jwt::algo::HS256>::sign(jwt_key, input);
      return !ec && mac.size() == raw.size() &&
             CRYPTO_memcmp(mac.data(), raw.data(), raw.size()) == 0;
    }
    jwt::string_view sig(signature.data(), signature.size());
    jwt::verify_result_t result =
        alg == "RS256"   ? jwt::PEMSign<jwt::algo::RS256>::verify(jwt_key, input, sig)
        : alg == "ES256" ? jwt::PEMSign<jwt::algo::ES256>::verify(jwt_key, input, sig)
                         : jwt::verify_result_t{false, {}};
    return result.first && !result.second;
  } catch (const std::exception&) {
    return false;
  }
}

std::string StringClaim(const nlohmann::json& payload, const char* name) {
  auto it = payload.find(name);
  return (it != payload.end() && it->is_string()) ? it->get<std::string>() : "";
}

// `aud` is a string or, per RFC 7519, an array of strings; either way it must name `audience`.
bool AudienceHolds(const nlohmann::json& payload, const std::string& audience) {
  auto aud = payload.find("aud");
  if (aud == payload.end()) return false;
  if (aud->is_string()) return aud->get<std::string>() == audience;
  if (!aud->is_array()) return false;
  for (const auto& one : *aud) {
    if (one.is_string() && one.get<std::string>() == audience) return true;
  }
  return false;
}

// A NumericDate claim (seconds since the epoch, possibly fractional).
std::optional<absl::Time> TimeClaim(const nlohmann::json& payload, const char* name) {
  auto it = payload.find(name);
  if (it == payload.end() || !it->is_number()) return std::nullopt;
  if (it->is_number_float()) return absl::UnixEpoch() + absl::Seconds(it->get<double>());
  if (it->is_number_unsigned()) {
    return absl::FromUnixSeconds(static_cast<int64_t>(
        std::min<uint64_t>(it->get<uint64_t>(), std::numeric_limits<int64_t>::max())));
  }
  return absl::FromUnixSeconds(it->get<int64_t>());
}

}  // namespace

Authenticator::Authenticator(AuthOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock != nullptr ? clock : &RealClock::Get()) {
  if (options_.jwks_file.empty()) return;
  jwks_ = std::make_unique<JwksFile>(options_.jwks_file, "auth_jwks_file",
                                     options_.jwks_check_interval);
  if (absl::Status read = jwks_->Reload(); !read.ok()) {
    log::Error("JWKS unreadable; RS256 and ES256 tokens are refused until it is fixed",
               {{"error", std::string(read.message())}});
  }
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(AuthOptions options,
                                                                     const Clock* clock) {
  if (!options.jwks_file.empty()) {
    // Read once here for the error; the constructor reads it again, cheaply.
    auto keys = ReadJwksFile(options.jwks_file, "auth_jwks_file");
    if (!keys.ok()) return keys.status();
  }
  return std::make_unique<Authenticator>(std::move(options), clock);
}

absl::Status Authenticator::ReloadKeys() const {
  if (jwks_ == nullptr) return absl::FailedPreconditionError("no JWKS file is configured");
  return jwks_->Reload();
}

absl::StatusOr<Authenticator::Verified> Authenticator::VerifyUncached(absl::string_view token,
                                                                      const KeySet* keys,
                                                                      absl::Time now) const {
  // Header and signature first: nothing the payload says is looked at before the signature holds.
  absl::string_view parts[3];
  if (!SplitCompactJws(token, parts)) return Unauthenticated("TOKEN_INVALID");
  std::optional<nlohmann::json> header = DecodeJsonSegment(parts[0]);
  if (!header.has_value()) return Unauthenticated("TOKEN_INVALID");
  auto alg = header->find("alg");
  auto kid = header->find("kid");
  if (alg == header->end() || !alg->is_string() || (kid != header->end() && !kid->is_string()) ||
      header->contains("crit")) {  // no JWS extension is understood, so none may be critical
    return Unauthenticated("TOKEN_INVALID");
  }
  const std::string algorithm = alg->get<std::string>();
  // The key comes from the configuration for the header's algorithm, never from the token, so a
  // public key can never be taken for an HMAC secret.
  absl::string_view key;
  if (algorithm == "HS256") {
    key = options_.hs256_secret;
  } else if ((algorithm == "RS256" || algorithm == "ES256") && keys != nullptr) {
    std::optional<std::string> wanted;
    if (kid != header->end()) wanted = kid->get<std::string>();
    if (const VerificationKey* found = keys->Select(algorithm, wanted); found != nullptr) {
      key = found->pem;
    }
  }
  absl::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (key.empty() || !SignatureHolds(algorithm, key, signing_input, parts[2])) {
    return Unauthenticated("TOKEN_INVALID");
  }

  std::optional<nlohmann::json> payload = DecodeJsonSegment(parts[1]);
  if (!payload.has_value()) return Unauthenticated("TOKEN_INVALID");
  if (StringClaim(*payload, "iss") != options_.issuer ||
      !AudienceHolds(*payload, options_.audience)) {
    return Unauthenticated("TOKEN_INVALID");
  }
  std::optional<absl::Time> exp = TimeClaim(*payload, "exp");
  if (!exp.has_value()) return Unauthenticated("TOKEN_CLAIMS");
  if (now > *exp + options_.leeway) return Unauthenticated("TOKEN_EXPIRED");
  if (payload->contains("nbf")) {
    std::optional<absl::Time> nbf = TimeClaim(*payload, "nbf");
    if (!nbf.has_value()) return Unauthenticated("TOKEN_CLAIMS");
    if (*nbf - options_.leeway > now) return Unauthenticated("TOKEN_NOT_YET_VALID");
  }
  Verified verified{{}, *exp};
  Identity& who = verified.identity;
  who.tenant = StringClaim(*payload, "tenant");
  who.subject = StringClaim(*payload, "sub");
  who.patient = StringClaim(*payload, "patient");
  if (!ParseRole(StringClaim(*payload, "role"), &who.role) ||
      !ValidateId("tenant", who.tenant).ok() || who.subject.empty() ||
      (who.role == trellis::v1::ROLE_CLIENT && !ValidateId("patient", who.patient).ok())) {
    return Unauthenticated("TOKEN_CLAIMS");
  }
  return verified;
}

absl::StatusOr<Identity> Authenticator::Verify(absl::string_view token) const {
  if (token.empty()) return Unauthenticated("TOKEN_MISSING");
  if (token.size() > kMaxTokenBytes || !IsCompactJwsText(token)) {
    return Unauthenticated("TOKEN_INVALID");
  }
  absl::Time now = clock_->Now();
  std::shared_ptr<const KeySet> keys = jwks_ != nullptr ? jwks_->Keys(now) : nullptr;
  const uint64_t generation = keys != nullptr ? keys->generation() : 0;
  {
    absl::MutexLock lock(&mu_);
    if (generation > cache_generation_) {
      // The keys changed: what was verified with the old set must be verified again.
      cache_.clear();
      cache_generation_ = generation;
    }
    auto it = cache_.find(token);
    if (it != cache_.end()) {
      if (it->second.expires + options_.leeway >= now) return it->second.identity;
      cache_.erase(it);
      return Unauthenticated("TOKEN_EXPIRED");
    }
  }
  auto verified = VerifyUncached(token, keys.get(), now);
  if (!verified.ok()) return verified.status();
  absl::MutexLock lock(&mu_);
  if (generation == cache_generation_) {  // not verified with a key set replaced meanwhile
    if (cache_.size() >= kMaxCachedTokens) cache_.clear();  // bounded; refills on demand
    cache_.emplace(std::string(token), *verified);
  }
  return verified->identity;
}

absl::StatusOr<Identity> Authenticator::Authenticate(
    const grpc::CallbackServerContext& context) const {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return Unauthenticated("TOKEN_MISSING");
  absl::string_view header(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&header, "Bearer ") && !absl::ConsumePrefix(&header, "bearer ")) {
    return Unauthenticated("TOKEN_MISSING");
  }
  return Verify(absl::StripAsciiWhitespace(header));
}

namespace {

// Signs the claims of `who` with `alg` under `key`; `kid` goes into the header when not empty.
// Empty if signing fails.
std::string SignClaims(const char* alg, const std::string& key, const std::string& kid,
                       const AuthOptions& options, const Identity& who, absl::Duration ttl,
                       absl::Time now) {
  jwt::jwt_object obj{jwt::params::algorithm(alg), jwt::params::secret(key)};
  if (!kid.empty()) obj.header().add_header("kid", kid);
  obj.add_claim("iss", options.issuer)
      .add_claim("aud", options.audience)
      .add_claim("sub", who.subject)
      .add_claim("tenant", who.tenant)
      .add_claim("role", RoleName(who.role))
      .add_claim("iat", absl::ToUnixSeconds(now))
      .add_claim("exp", absl::ToUnixSeconds(now + ttl));
  if (!who.patient.empty()) obj.add_claim("patient", who.patient);
  std::error_code ec;
  std::string token = obj.signature(ec);
  return ec ? "" : token;
}

// Service tokens live 5 minutes and are reused for the first minute: a busy relay signs about
// once a minute per (tenant, service), and the peer's verified-token cache gets hits.
constexpr absl::Duration kServiceTokenTtl = absl::Minutes(5);
constexpr absl::Duration kServiceTokenReuse = absl::Minutes(1);
constexpr size_t kMaxServiceTokens = 10000;

class ServiceTokenCache {
 public:
  std::string Get(const AuthOptions& options, absl::string_view tenant, absl::string_view service,
                  absl::Time now) {
    // Everything the token depends on; the key material stays in this process's memory.
    std::string key =
        absl::StrCat(options.service_key ? options.service_key->kid : "", "\n",
                     options.service_key ? options.service_key->private_pem : options.hs256_secret,
                     "\n", options.issuer, "\n", options.audience, "\n", tenant, "\n", service);
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(key);
    if (it != tokens_.end() && now >= it->second.minted &&
        now < it->second.minted + kServiceTokenReuse) {
      return it->second.token;
    }
    Identity self{std::string(tenant), std::string(service), trellis::v1::ROLE_SERVICE, ""};
    std::string token = MintServiceToken(options, self, kServiceTokenTtl, now);
    if (tokens_.size() >= kMaxServiceTokens) tokens_.clear();
    tokens_[key] = {token, now};
    return token;
  }

 private:
  struct Minted {
    std::string token;
    absl::Time minted;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Minted> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::string MintHs256Token(const AuthOptions& options, const Identity& who, absl::Duration ttl,
                           absl::Time now) {
  return SignClaims("HS256", options.hs256_secret, "", options, who, ttl, now);
}

std::string MintToken(const SigningKey& key, const AuthOptions& options, const Identity& who,
                      absl::Duration ttl, absl::Time now) {
  return SignClaims(key.alg.c_str(), key.private_pem, key.kid, options, who, ttl, now);
}

std::string MintServiceToken(const AuthOptions& options, const Identity& who, absl::Duration ttl,
                             absl::Time now) {
  if (options.service_key.has_value())
    return MintToken(*options.service_key, options, who, ttl, now);
  if (!options.hs256_secret.empty()) return MintHs256Token(options, who, ttl, now);
  return "";
}

void PrepareServiceCall(grpc::ClientContext& ctx, const AuthOptions& options,
                        absl::string_view tenant, absl::string_view service, absl::Time deadline,
                        const trace::CallContext& origin) {
  static ServiceTokenCache* const cache = new ServiceTokenCache();
  ctx.AddMetadata("authorization",
                  absl::StrCat("Bearer ", cache->Get(options, tenant, service, absl::Now())));
  ctx.set_deadline(absl::ToChronoTime(deadline));
  trace::Propagate(ctx, origin);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view field) {
  std::ifstream in(path);
  if (!in) return InvalidField(field, "cannot read the secret file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret(absl::StripTrailingAsciiWhitespace(ss.str()));
  if (secret.size() < 32) return InvalidField(field, "the secret must be at least 32 bytes");
  return secret;
}

}  // namespace trellis::auth
