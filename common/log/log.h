#pragma once

// Structured logs: one JSON object per line on stdout. Callers pass ids, codes and numbers; never
// goal text, questionnaire answers, notes or tokens.

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

// Writes {"ts":..., "level":..., "service":..., "msg": msg, ...fields}.
void Write(Level level, absl::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());

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
