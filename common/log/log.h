#pragma once

// Structured logs: one JSON object per line on stdout. Callers pass ids, codes and numbers; never
// goal text, questionnaire answers, notes or tokens.

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

namespace trellis::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error".
bool ParseLevel(absl::string_view text, Level* level);

// Sets the `service` field of every line and the lowest level written.
void Configure(std::string service, Level min_level);

// Replaces the output (stdout by default) with `sink`, which receives each line without its
// newline. Pass nullptr to restore stdout. For tests.
void SetSinkForTesting(std::function<void(const std::string&)> sink);

bool Enabled(Level level);

// Appends `value` to `out` as a JSON string (quoted and escaped). Bytes that are not valid UTF-8
// become U+FFFD, so a client's bad bytes cannot break the line.
void AppendJsonString(std::string& out, absl::string_view value);

// A line's fields written straight as JSON text, for lines written on every call (the access
// log): building a nlohmann object costs a std::map with a node and a string per field, which the
// benchmark's profile showed as a sixth of a cheap read's instructions (docs/performance.md).
// Keys are the caller's literals; values are escaped. Use none of the line's own keys (ts, level,
// service, msg).
class Fields {
 public:
  Fields& Add(absl::string_view key, absl::string_view value);
  Fields& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  Fields& Add(absl::string_view key, double value);
  Fields& Add(absl::string_view key, int64_t value);
  Fields& Add(absl::string_view key, bool value);
  // `,"key":value...`, ready to follow the line's own fields.
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Writes {"ts":..., "level":..., "service":..., "msg": msg, ...fields}. A field named like one of
// the line's own (e.g. "service") replaces it.
void Write(Level level, absl::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());
void Write(Level level, absl::string_view msg, const Fields& fields);

inline void Debug(absl::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, f);
}
inline void Info(absl::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kInfo, msg, f);
}
inline void Warn(absl::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kWarn, msg, f);
}
inline void Error(absl::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
  Write(Level::kError, msg, f);
}

}  // namespace trellis::log
