#pragma once

#include <string>

namespace trellis::testing {

// GET `path` from 127.0.0.1:`port` over HTTP/1.0; the whole response (status line, headers,
// body), or "" when nothing answers.
std::string HttpGet(int port, const std::string& path);

// The body of an HTTP response ("" without one).
std::string HttpBody(const std::string& response);

}  // namespace trellis::testing
