#pragma once

// The fuzz targets. Each body is a plain function, so the same code runs in two builds:
// - `make fuzz` (clang, TRELLIS_FUZZ=ON) links each body into its own libFuzzer binary, whose
//   entry point TRELLIS_FUZZ_ENTRY_POINT defines;
// - the normal build (GCC) links all of them into fuzz_replay_tests, which replays every file of
//   fuzz/corpus/<target>/ and fuzz/regressions/<target>/ (label `unit`).
// A body returns 0 for every input. It aborts (a "crash" to libFuzzer, a failed test to ctest)
// only when the code under test breaks one of its documented contracts, which the bodies check
// with TRELLIS_FUZZ_CHECK; everything else a hostile input can cause must be a status.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "common/status/status.h"

namespace trellis::fuzz {

// Schedule parsing, validation and occurrence expansion (services/reminders/domain). Input: text
// lines "DTSTART;TZID=<zone>:<local>", "RRULE:<rule>", "EXDATE:<local>[,<local>...]",
// "NOW:<utc>" and "PREVIEW:<count>" (fuzz/schedule_fuzz.cc).
int FuzzSchedule(const uint8_t* data, size_t size);

// trellis::auth::Authenticator::Verify with an HS256 authenticator. Input: 'S' then
// "<header JSON>\n<payload JSON>" to be signed with the target's secret, or anything else (the
// whole input after its first byte is the token).
int FuzzJwt(const uint8_t* data, size_t size);

// PHQ-9/GAD-7 scoring and SubmitQuestionnaire validation (services/measurements/domain). Input:
// text lines "instrument=<id>", "proration=<0|1>", "phq9_max_missing=<n>",
// "gad7_max_missing=<n>", "previous=<total>" and "<item>=<value>" answers.
int FuzzQuestionnaire(const uint8_t* data, size_t size);

// The request validators of the three services. Input: one byte choosing the message type
// (fuzz/request_fuzz.cc, kMessages), then the serialized message.
int FuzzRequest(const uint8_t* data, size_t size);

[[noreturn]] inline void ContractBroken(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz contract broken: %s\n", file, line, what);
  std::abort();
}

}  // namespace trellis::fuzz

#define TRELLIS_FUZZ_CHECK(condition)                                                  \
  do {                                                                                 \
    if (!(condition)) ::trellis::fuzz::ContractBroken(__FILE__, __LINE__, #condition); \
  } while (0)

namespace trellis::fuzz {

// The project's contract for a refused input (common/status/status.h): INVALID_ARGUMENT with a
// BadRequest naming at least one field.
inline void CheckRefusal(const absl::Status& status) {
  TRELLIS_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  TRELLIS_FUZZ_CHECK(!FieldViolationsOf(status).empty());
}

}  // namespace trellis::fuzz

// Defines libFuzzer's entry point for `body` in the clang build (one target per binary: the
// build defines TRELLIS_LIBFUZZER only there); nothing in the normal build.
#if defined(TRELLIS_LIBFUZZER)
#define TRELLIS_FUZZ_ENTRY_POINT(body)                                      \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return body(data, size);                                                \
  }
#else
#define TRELLIS_FUZZ_ENTRY_POINT(body)
#endif
