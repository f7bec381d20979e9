#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::config {

struct HostPort {
  std::string host;
  int port = 0;
};

// "host:port", for logs and error messages (and the cluster client's node map).
std::string HostPortText(const HostPort& hp);

// Where Redis is: parsed from `redis://[[user]:password@]host[:port][/db]`.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // ACL user; empty for the default user
  std::string password;  // empty: no AUTH
  int db = 0;
  // With Sentinel (--redis_sentinels): the primary of `sentinel_master` is asked of these on every
  // (re)connect, and host/port above are not used. User, password and db still are.
  std::vector<HostPort> sentinels;
  std::string sentinel_master;
};

// INVALID_ARGUMENT naming `field` unless `list` is `host:port[,host:port...]` (ports required,
// at most 16 entries).
absl::StatusOr<std::vector<HostPort>> ParseHostPortList(absl::string_view list,
                                                        absl::string_view field);

// INVALID_ARGUMENT naming `field` when the URL is malformed.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url,
                                            absl::string_view field = "redis_url");

}  // namespace trellis::config
