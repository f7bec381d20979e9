#include "common/config/redis_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status/status.h"

namespace trellis::config {

std::string HostPortText(const HostPort& hp) { return absl::StrCat(hp.host, ":", hp.port); }

absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url, absl::string_view field) {
  RedisEndpoint ep;
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return InvalidField(field, "must start with redis:// (e.g. redis://127.0.0.1:6379/0)");
  }
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (size_t colon = userinfo.find(':'); colon != absl::string_view::npos) {
      ep.user = std::string(userinfo.substr(0, colon));
      ep.password = std::string(userinfo.substr(colon + 1));
    } else {
      ep.password = std::string(userinfo);
    }
  }
  absl::string_view hostport = rest;
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    hostport = rest.substr(0, slash);
    absl::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!absl::SimpleAtoi(db, &ep.db) || ep.db < 0 || ep.db > 15)) {
      return InvalidField(field, "database must be a number from 0 to 15");
    }
  }
  if (size_t colon = hostport.rfind(':'); colon != absl::string_view::npos) {
    absl::string_view port = hostport.substr(colon + 1);
    if (!absl::SimpleAtoi(port, &ep.port) || ep.port < 1 || ep.port > 65535) {
      return InvalidField(field,
                          absl::StrCat("port must be a number from 1 to 65535, got '", port, "'"));
    }
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return InvalidField(field, "host is missing");
  ep.host = std::string(hostport);
  return ep;
}

absl::StatusOr<std::vector<HostPort>> ParseHostPortList(absl::string_view list,
                                                        absl::string_view field) {
  std::vector<HostPort> out;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    size_t colon = entry.rfind(':');
    if (entry.empty() || colon == absl::string_view::npos || colon == 0) {
      return InvalidField(field, absl::StrCat("entries must be host:port, got '", entry, "'"));
    }
    HostPort hp;
    absl::string_view host = entry.substr(0, colon);
    if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
      return InvalidField(field, absl::StrCat("unclosed '[' in '", entry, "'"));
    }
    if (host.empty()) {
      return InvalidField(field, absl::StrCat("entries must be host:port, got '", entry, "'"));
    }
    hp.host = std::string(host);
    absl::string_view port = entry.substr(colon + 1);
    if (!absl::SimpleAtoi(port, &hp.port) || hp.port < 1 || hp.port > 65535) {
      return InvalidField(field,
                          absl::StrCat("port must be a number from 1 to 65535, got '", port, "'"));
    }
    out.push_back(std::move(hp));
  }
  if (out.size() > 16) return InvalidField(field, "at most 16 entries");
  return out;
}

}  // namespace trellis::config
