#include "cli/rpc_error.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace trellis::cli {

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string DescribeRpcError(const grpc::Status& status) {
  std::string out = absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return out;
  }
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::BadRequest bad;
    google::rpc::PreconditionFailure precondition;
    google::rpc::RetryInfo retry;
    if (any.UnpackTo(&info)) {
      absl::StrAppend(&out, "\n  reason: ", info.reason());
    } else if (any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) {
        absl::StrAppend(&out, "\n  field ", v.field(), ": ", v.description());
      }
    } else if (any.UnpackTo(&precondition)) {
      for (const auto& v : precondition.violations()) {
        absl::StrAppend(&out, "\n  precondition ", v.type(), " ", v.subject(), ": ",
                        v.description());
      }
    } else if (any.UnpackTo(&retry)) {
      absl::Duration delay = absl::Seconds(retry.retry_delay().seconds()) +
                             absl::Nanoseconds(retry.retry_delay().nanos());
      absl::StrAppend(&out, "\n  retry after: ", absl::FormatDuration(delay));
    }
  }
  return out;
}

}  // namespace trellis::cli
