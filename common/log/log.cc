#include "common/log/log.h"

#include <atomic>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
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

// Appends now as "2026-11-27T07:21:16.123Z". The part down to the second is formatted once per
// second per thread: a time zone formatting per line is most of a line's cost otherwise.
void AppendTimestamp(std::string& out) {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string cached;
  absl::Time now = absl::Now();
  int64_t ms = absl::ToUnixMillis(now);
  int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cached_second) {
    cached = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                              absl::UTCTimeZone());
    cached_second = second;
  }
  int milli = static_cast<int>(ms - second * 1000);
  char frac[6] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                  static_cast<char>('0' + milli % 10), 'Z', '\0'};
  out.append(cached);
  out.append(frac, 5);
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t Utf8Length(absl::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  uint32_t min;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Writes one finished line (without its newline) to the sink or stdout.
void Emit(LogState& s, std::string& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  if (s.sink) {
    s.sink(line);
    return;
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// Writes a line whose own fields may be replaced by `overrides` (a nlohmann object's values for
// the keys ts, level, service, msg) and whose other fields are `tail` (",\"k\":v...").
void WriteLine(Level level, absl::string_view msg, absl::string_view tail,
               const nlohmann::json* overrides) {
  auto override_of = [&](const char* key) -> const nlohmann::json* {
    if (overrides == nullptr) return nullptr;
    auto it = overrides->find(key);
    return it == overrides->end() ? nullptr : &*it;
  };
  auto dump = [](const nlohmann::json& v) {
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string line;
  line.reserve(160 + tail.size());
  line.append("{\"ts\":");
  if (const nlohmann::json* v = override_of("ts")) {
    line.append(dump(*v));
  } else {
    line.push_back('"');
    AppendTimestamp(line);
    line.push_back('"');
  }
  line.append(",\"level\":");
  if (const nlohmann::json* v = override_of("level")) {
    line.append(dump(*v));
  } else {
    absl::StrAppend(&line, "\"", LevelName(level), "\"");
  }
  line.append(",\"msg\":");
  if (const nlohmann::json* v = override_of("msg")) {
    line.append(dump(*v));
  } else {
    AppendJsonString(line, msg);
  }
  const nlohmann::json* service = override_of("service");
  if (service != nullptr) absl::StrAppend(&line, ",\"service\":", dump(*service));
  line.append(tail.data(), tail.size());
  LogState& s = State();
  absl::MutexLock lock(&s.mu);
  if (service == nullptr) {
    line.append(",\"service\":");
    AppendJsonString(line, s.service);
  }
  line.push_back('}');
  Emit(s, line);
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

void AppendJsonString(std::string& out, absl::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < value.size()) {
    // The plain run first, in one append (ids and codes are nothing else).
    size_t run = i;
    while (run < value.size()) {
      unsigned char c = static_cast<unsigned char>(value[run]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++run;
    }
    out.append(value.data() + i, run - i);
    i = run;
    if (i == value.size()) break;
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      size_t n = Utf8Length(value, i);
      if (n == 0) {
        out.append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      } else {
        out.append(value.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, 6);
      }
    }
    ++i;
  }
  out.push_back('"');
}

Fields& Fields::Add(absl::string_view key, absl::string_view value) {
  text_.push_back(',');
  AppendJsonString(text_, key);
  text_.push_back(':');
  AppendJsonString(text_, value);
  return *this;
}

Fields& Fields::Add(absl::string_view key, double value) {
  text_.push_back(',');
  AppendJsonString(text_, key);
  text_.push_back(':');
  if (std::isfinite(value)) {
    absl::StrAppend(&text_, value);
  } else {
    text_.append("null");
  }
  return *this;
}

Fields& Fields::Add(absl::string_view key, int64_t value) {
  text_.push_back(',');
  AppendJsonString(text_, key);
  absl::StrAppend(&text_, ":", value);
  return *this;
}

Fields& Fields::Add(absl::string_view key, bool value) {
  text_.push_back(',');
  AppendJsonString(text_, key);
  text_.append(value ? ":true" : ":false");
  return *this;
}

void Write(Level level, absl::string_view msg, const Fields& fields) {
  if (!Enabled(level)) return;
  WriteLine(level, msg, fields.text(), nullptr);
}

void Write(Level level, absl::string_view msg, const nlohmann::json& fields) {
  if (!Enabled(level)) return;
  std::string tail;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      const std::string& key = it.key();
      if (key == "ts" || key == "level" || key == "msg" || key == "service") continue;
      tail.push_back(',');
      AppendJsonString(tail, key);
      tail.push_back(':');
      // Replacement of invalid UTF-8 keeps a bad byte from throwing inside the logger.
      tail.append(it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  WriteLine(level, msg, tail, fields.is_object() ? &fields : nullptr);
}

}  // namespace trellis::log
