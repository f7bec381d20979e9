#pragma once

// Errors below the RPC edge are absl::Status values. Details a client needs (which field was bad,
// a stable machine-readable reason) ride along as payloads holding the serialized google.rpc
// messages, and ToGrpcStatus() turns them into a grpc::Status whose binary details carry a
// google.rpc.Status, which gRPC sends as `grpc-status-details-bin`.

#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace trellis {

// Domain of every ErrorInfo this project emits.
inline constexpr absl::string_view kErrorDomain = "trellis.v1";

inline constexpr absl::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr absl::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";

// One INVALID_ARGUMENT naming one field. `field` is the request field path ("goal.title").
absl::Status InvalidField(absl::string_view field, absl::string_view description);

// Collects every field violation of one request, so a client sees all of them at once.
class FieldViolations {
 public:
  void Add(absl::string_view field, absl::string_view description);
  // Adds the violations of `status` (an InvalidField/FieldViolations status) under `prefix`.
  void Merge(const absl::Status& status, absl::string_view prefix = "");
  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }
  // OK when empty; otherwise INVALID_ARGUMENT with a BadRequest listing all violations.
  absl::Status ToStatus() const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
};

// Attaches a google.rpc.ErrorInfo with a stable `reason` (UPPER_SNAKE_CASE) to `status`.
absl::Status WithReason(absl::Status status, absl::string_view reason);

// Shorthands that always carry a reason.
absl::Status NotFoundError(absl::string_view what, absl::string_view reason = "NOT_FOUND");
absl::Status UnavailableError(absl::string_view what, absl::string_view reason);

// Field violations carried by `status`, as (field, description) pairs; empty if none.
std::vector<std::pair<std::string, std::string>> FieldViolationsOf(const absl::Status& status);
// The ErrorInfo reason carried by `status`, or empty.
std::string ReasonOf(const absl::Status& status);

// The one conversion at the RPC edge. Every non-OK result carries an ErrorInfo (the status's own
// reason, or the code's name) and, when present, the BadRequest violations.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for calls to peer services: keeps code, message and the details payloads.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace trellis
