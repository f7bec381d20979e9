#pragma once

// Reading the error details (google.rpc.Status in grpc-status-details-bin) of a failed call in
// integration tests: the ErrorInfo reason and the BadRequest field paths.

#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace trellis::testing {

inline google::rpc::Status DetailsOf(const grpc::Status& s) {
  google::rpc::Status out;
  out.ParseFromString(s.error_details());
  return out;
}

// The ErrorInfo reason, or "" when there is none.
inline std::string ReasonOf(const grpc::Status& s) {
  google::rpc::Status details = DetailsOf(s);
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

// The field paths of the BadRequest violations.
inline std::set<std::string> FieldsOf(const grpc::Status& s) {
  std::set<std::string> fields;
  google::rpc::Status details = DetailsOf(s);
  for (const auto& any : details.details()) {
    google::rpc::BadRequest br;
    if (any.UnpackTo(&br)) {
      for (const auto& v : br.field_violations()) fields.insert(v.field());
    }
  }
  return fields;
}

}  // namespace trellis::testing
