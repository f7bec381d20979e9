#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::config {

// Where Redis is: parsed from `redis://[[user]:password@]host[:port][/db]`.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // ACL user; empty for the default user
  std::string password;  // empty: no AUTH
  int db = 0;
};

// INVALID_ARGUMENT naming `field` when the URL is malformed.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url,
                                            absl::string_view field = "redis_url");

}  // namespace trellis::config
