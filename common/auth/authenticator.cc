#include "common/auth/authenticator.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

#include <jwt/jwt.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/ids/ids.h"
#include "common/status/status.h"

namespace trellis::auth {
namespace {

constexpr size_t kMaxCachedTokens = 100000;
constexpr size_t kMaxTokenBytes = 8192;

// A compact JWS (RFC 7515 section 7.1) is unpadded base64url text in parts separated by dots.
// Anything else is refused before the JWT library sees it: cpp-jwt's base64 decoder indexes its
// table with the raw (signed) char, reading out of bounds on bytes >= 0x80 (found by fuzz/jwt).
bool IsCompactJwsText(absl::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// Whether cpp-jwt can check the claims of `payload` without undefined behaviour:
// - it looks claim names up with strcmp, so "exp\u0000x" counts as "exp" and the JSON lookup of
//   "exp" that follows reads a missing key (a use-after-free read): no name may contain NUL;
// - it converts "exp", "nbf" and "iat" with a plain cast to uint64_t, so a floating-point value
//   outside [0, 2^63) (1e20, -1.5) must not reach it. Integers of any size convert defined.
bool PayloadSafeForCppJwt(const nlohmann::json& payload) {
  if (!payload.is_object()) return true;  // not a claims set: cpp-jwt refuses it
  for (auto it = payload.begin(); it != payload.end(); ++it) {
    if (it.key().find('\0') != std::string::npos) return false;
  }
  for (const char* claim : {"exp", "nbf", "iat"}) {
    auto it = payload.find(claim);
    if (it == payload.end() || !it->is_number_float()) continue;
    const double value = it->get<double>();
    if (!(value >= 0 && value < 9223372036854775808.0)) return false;
  }
  return true;
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

}  // namespace

absl::StatusOr<std::pair<Identity, absl::Time>> Authenticator::VerifyUncached(
    absl::string_view token) const {
  std::error_code ec;
  jwt::jwt_object decoded;
  // cpp-jwt checks the claims before the signature, so whatever it does with them any caller can
  // make it do (found by fuzz/jwt): it reports most problems through `ec` but throws for JSON of
  // the wrong shape (a payload that is not an object, a non-string "alg" or "typ"), hence the
  // try; and its claim checks need PayloadSafeForCppJwt, checked on an unverified decode.
  try {
    const jwt::jwt_object unverified =
        jwt::decode(jwt::string_view(token.data(), token.size()),
                    jwt::params::algorithms({"HS256"}), ec, jwt::params::verify(false));
    if (ec || !PayloadSafeForCppJwt(unverified.payload().create_json_obj())) {
      return Unauthenticated("TOKEN_INVALID");
    }
    decoded = jwt::decode(
        jwt::string_view(token.data(), token.size()), jwt::params::algorithms({"HS256"}), ec,
        jwt::params::secret(options_.hs256_secret), jwt::params::verify(true),
        jwt::params::issuer(options_.issuer), jwt::params::aud(options_.audience),
        jwt::params::leeway(static_cast<uint32_t>(absl::ToInt64Seconds(options_.leeway))));
  } catch (const std::exception&) {
    return Unauthenticated("TOKEN_INVALID");
  }
  if (ec) {
    if (ec == jwt::VerificationErrc::TokenExpired) return Unauthenticated("TOKEN_EXPIRED");
    return Unauthenticated("TOKEN_INVALID");
  }
  const auto& payload = decoded.payload();
  if (!payload.has_claim("exp")) return Unauthenticated("TOKEN_CLAIMS");
  Identity who;
  try {
    const auto& json = payload.create_json_obj();
    auto get = [&json](const char* key) -> std::string {
      auto it = json.find(key);
      return (it != json.end() && it->is_string()) ? it->template get<std::string>() : "";
    };
    who.tenant = get("tenant");
    who.subject = get("sub");
    who.patient = get("patient");
    if (!ParseRole(get("role"), &who.role)) return Unauthenticated("TOKEN_CLAIMS");
    int64_t exp = json.at("exp").get<int64_t>();
    if (!ValidateId("tenant", who.tenant).ok() || who.subject.empty() ||
        (who.role == trellis::v1::ROLE_CLIENT && !ValidateId("patient", who.patient).ok())) {
      return Unauthenticated("TOKEN_CLAIMS");
    }
    return std::make_pair(who, absl::FromUnixSeconds(exp));
  } catch (const std::exception&) {
    return Unauthenticated("TOKEN_CLAIMS");
  }
}

absl::StatusOr<Identity> Authenticator::Verify(absl::string_view token) const {
  if (token.empty()) return Unauthenticated("TOKEN_MISSING");
  if (token.size() > kMaxTokenBytes || !IsCompactJwsText(token)) {
    return Unauthenticated("TOKEN_INVALID");
  }
  absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(token);
    if (it != cache_.end()) {
      if (it->second.second + options_.leeway > now) return it->second.first;
      cache_.erase(it);
      return Unauthenticated("TOKEN_EXPIRED");
    }
  }
  auto verified = VerifyUncached(token);
  if (!verified.ok()) return verified.status();
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxCachedTokens) cache_.clear();  // bounded; refills on demand
  cache_.emplace(std::string(token), *verified);
  return verified->first;
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

absl::StatusOr<Identity> Admit(const Authenticator* authenticator,
                               const grpc::CallbackServerContext& context,
                               const absl::Status& validation, absl::string_view patient) {
  if (authenticator == nullptr) return Unauthenticated("TOKEN_MISSING");
  auto who = authenticator->Authenticate(context);
  if (!who.ok()) return who.status();
  if (!validation.ok()) return validation;
  if (absl::Status access = CheckPatientAccess(*who, patient); !access.ok()) return access;
  return who;
}

std::string MintHs256Token(const AuthOptions& options, const Identity& who, absl::Duration ttl,
                           absl::Time now) {
  jwt::jwt_object obj{jwt::params::algorithm("HS256"), jwt::params::secret(options.hs256_secret)};
  obj.add_claim("iss", options.issuer)
      .add_claim("aud", options.audience)
      .add_claim("sub", who.subject)
      .add_claim("tenant", who.tenant)
      .add_claim("role", RoleName(who.role))
      .add_claim("iat", absl::ToUnixSeconds(now))
      .add_claim("exp", absl::ToUnixSeconds(now + ttl));
  if (!who.patient.empty()) obj.add_claim("patient", who.patient);
  return obj.signature();
}

void PrepareServiceCall(grpc::ClientContext& ctx, const AuthOptions& options,
                        absl::string_view tenant, absl::string_view service, absl::Time deadline) {
  Identity self{std::string(tenant), std::string(service), trellis::v1::ROLE_SERVICE, ""};
  ctx.AddMetadata("authorization",
                  absl::StrCat("Bearer ", MintHs256Token(options, self, absl::Minutes(5))));
  ctx.set_deadline(absl::ToChronoTime(deadline));
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
