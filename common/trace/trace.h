#pragma once

// W3C Trace Context (https://www.w3.org/TR/trace-context/) as far as the suite needs it: every
// RPC a service serves belongs to a trace, named by the `traceparent` the caller sent or by a new
// one, and every call it makes to a peer carries a child `traceparent` of the same trace. Logs
// carry the trace id and a request id, so one request can be followed through the services that
// worked on it. No spans are recorded or exported: the ids exist for the log lines.
//
//   traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<trace-flags: 2 hex>
//   x-request-id: the caller's id for the request, carried along unchanged

#include <cstdint>
#include <optional>
#include <string>

#include <grpcpp/client_context.h>

#include "absl/strings/string_view.h"

namespace trellis::trace {

inline constexpr char kTraceparentHeader[] = "traceparent";
inline constexpr char kRequestIdHeader[] = "x-request-id";
// Longest request id taken from a caller; longer ones are ignored (the trace id stands in).
inline constexpr size_t kMaxRequestIdLength = 128;

// One span of a trace: the trace it belongs to, its own id, and the trace flags (bit 0: sampled).
struct SpanContext {
  std::string trace_id;  // 32 lowercase hex digits, not all zero
  std::string span_id;   // 16 lowercase hex digits, not all zero
  uint8_t flags = 0;

  bool valid() const { return !trace_id.empty(); }
};

// Parses a `traceparent` header value. nullopt when it is malformed: wrong lengths or separators,
// upper-case or non-hex digits, an all-zero trace id or parent id, version ff, or version 00 with
// anything after the flags. A later version (01-fe) is read by its version-00 prefix, as the
// specification asks. The parent id becomes `span_id`.
std::optional<SpanContext> ParseTraceparent(absl::string_view value);

// "00-<trace_id>-<span_id>-<flags>" for a valid context; "" for an invalid one.
std::string FormatTraceparent(const SpanContext& span);

// A new trace with a new span (random ids, flags 00: nothing is recorded, so nothing is sampled).
SpanContext NewTrace();

// A new span of `parent`'s trace (same trace id and flags, a new span id); a new trace when
// `parent` is invalid.
SpanContext ChildOf(const SpanContext& parent);

// `value` if it is a usable request id: 1..kMaxRequestIdLength characters of [A-Za-z0-9._:+=~-]
// (ids end up in log lines and in outbox entries, where '|', ';' and spaces have meaning);
// otherwise "".
std::string SanitizeRequestId(absl::string_view value);

// What an RPC being served passes on to the calls it makes: its own span and its request id.
struct CallContext {
  SpanContext span;        // this server span (a child of the caller's, or the root of a trace)
  std::string parent_id;   // the caller's span id; "" when the trace started here
  std::string request_id;  // never empty for a served call: the caller's x-request-id or trace id

  bool valid() const { return span.valid(); }
};

// The context of a call that arrived with these header values (empty: absent). A valid
// `traceparent` continues its trace with a new span; otherwise a new trace starts. The request
// id is the sanitized `x-request-id`, else the trace id.
CallContext ServerCallContext(absl::string_view traceparent, absl::string_view request_id);

// The context for work done later on behalf of a call whose span was `traceparent` (stored with
// an outbox entry, say): that span again, so the calls made now are its children, and the
// sanitized `request_id`, else the trace id. A new trace when `traceparent` is empty or malformed.
CallContext ResumedCallContext(absl::string_view traceparent, absl::string_view request_id);

// Adds `traceparent` (a child span of `parent`, or of a new trace when `parent` is invalid) and,
// when there is one, `x-request-id` to an outgoing call.
void Propagate(grpc::ClientContext& ctx, const CallContext& parent);

}  // namespace trellis::trace
