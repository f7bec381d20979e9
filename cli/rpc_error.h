#pragma once

// What trellisctl prints on stderr when a call fails: the canonical code's name and the message,
// then what the google.rpc.Status details say (the ErrorInfo reason, each BadRequest field
// violation, PreconditionFailure violations, RetryInfo's delay), one per line.

#include <string>

#include <grpcpp/support/status.h>

namespace trellis::cli {

// "NOT_FOUND: goal not found" plus detail lines ("  field goal.title: is required"); no trailing
// newline.
std::string DescribeRpcError(const grpc::Status& status);

// The canonical name of a gRPC code, e.g. "INVALID_ARGUMENT".
std::string CodeName(grpc::StatusCode code);

}  // namespace trellis::cli
