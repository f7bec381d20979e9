#include "common/log/log.h"

#include <atomic>
#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace trellis::log {
namespace {

struct LogState {
  absl::Mutex mu;
  std::string service ABSL_GUARDED_BY(mu) = "trellis";
  std::function<void(const std::string&)> sink ABSL_GUARDED_BY(mu);
};

LogState& State() {
  static LogState* state = new LogState();
  return *state;
}

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

}  // namespace

bool ParseLevel(absl::string_view text, Level* level) {
  if (text == "debug")
    *level = Level::kDebug;
  else if (text == "info")
    *level = Level::kInfo;
  else if (text == "warn")
    *level = Level::kWarn;
  else if (text == "error")
    *level = Level::kError;
  else
    return false;
  return true;
}

void Configure(std::string service, Level min_level) {
  LogState& s = State();
  absl::MutexLock lock(&s.mu);
  s.service = std::move(service);
  g_min_level.store(static_cast<int>(min_level));
}

void SetSinkForTesting(std::function<void(const std::string&)> sink) {
  LogState& s = State();
  absl::MutexLock lock(&s.mu);
  s.sink = std::move(sink);
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(); }

void Write(Level level, absl::string_view msg, const nlohmann::json& fields) {
  if (!Enabled(level)) return;
  LogState& s = State();
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  {
    absl::MutexLock lock(&s.mu);
    line["service"] = s.service;
  }
  line["msg"] = std::string(msg);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  // Replacement of invalid UTF-8 keeps a bad byte from throwing inside the logger.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  absl::MutexLock lock(&s.mu);
  if (s.sink) {
    s.sink(text);
    return;
  }
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace trellis::log
