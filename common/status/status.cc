#include "common/status/status.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace trellis {
namespace {

google::rpc::BadRequest BadRequestOf(const absl::Status& status) {
  google::rpc::BadRequest bad_request;
  if (auto payload = status.GetPayload(kBadRequestTypeUrl); payload.has_value()) {
    bad_request.ParseFromString(std::string(*payload));
  }
  return bad_request;
}

absl::Status WithBadRequest(absl::Status status, const google::rpc::BadRequest& bad_request) {
  status.SetPayload(kBadRequestTypeUrl, absl::Cord(bad_request.SerializeAsString()));
  return status;
}

std::string CodeName(absl::StatusCode code) {
  // absl::StatusCodeToString gives "INVALID_ARGUMENT" style names already.
  return absl::StatusCodeToString(code);
}

}  // namespace

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  FieldViolations violations;
  violations.Add(field, description);
  return violations.ToStatus();
}

void FieldViolations::Add(absl::string_view field, absl::string_view description) {
  violations_.emplace_back(std::string(field), std::string(description));
}

void FieldViolations::Merge(const absl::Status& status, absl::string_view prefix) {
  for (auto& [field, description] : FieldViolationsOf(status)) {
    Add(prefix.empty() ? field : absl::StrCat(prefix, ".", field), description);
  }
}

absl::Status FieldViolations::ToStatus() const {
  if (violations_.empty()) return absl::OkStatus();
  google::rpc::BadRequest bad_request;
  for (const auto& [field, description] : violations_) {
    auto* v = bad_request.add_field_violations();
    v->set_field(field);
    v->set_description(description);
  }
  std::string message = violations_.size() == 1
                            ? absl::StrCat(violations_[0].first, ": ", violations_[0].second)
                            : absl::StrCat(violations_[0].first, ": ", violations_[0].second,
                                           " (and ", violations_.size() - 1, " more)");
  return WithReason(WithBadRequest(absl::InvalidArgumentError(message), bad_request),
                    "INVALID_FIELD");
}

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (status.ok()) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status NotFoundError(absl::string_view what, absl::string_view reason) {
  return WithReason(absl::NotFoundError(what), reason);
}

absl::Status UnavailableError(absl::string_view what, absl::string_view reason) {
  return WithReason(absl::UnavailableError(what), reason);
}

std::vector<std::pair<std::string, std::string>> FieldViolationsOf(const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> out;
  google::rpc::BadRequest bad_request = BadRequestOf(status);
  for (const auto& v : bad_request.field_violations()) {
    out.emplace_back(v.field(), v.description());
  }
  return out;
}

std::string ReasonOf(const absl::Status& status) {
  if (auto payload = status.GetPayload(kErrorInfoTypeUrl); payload.has_value()) {
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(std::string(*payload))) return info.reason();
  }
  return "";
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(status.code()));
  rpc_status.set_message(std::string(status.message()));

  google::rpc::ErrorInfo info;
  if (auto payload = status.GetPayload(kErrorInfoTypeUrl); payload.has_value()) {
    info.ParseFromString(std::string(*payload));
  }
  if (info.reason().empty()) info.set_reason(CodeName(status.code()));
  if (info.domain().empty()) info.set_domain(std::string(kErrorDomain));
  rpc_status.add_details()->PackFrom(info);

  // Every other google.rpc detail (BadRequest, PreconditionFailure, ...) travels as it is.
  status.ForEachPayload([&rpc_status](absl::string_view type_url, const absl::Cord& value) {
    if (type_url == kErrorInfoTypeUrl) return;
    if (!absl::StartsWith(type_url, "type.googleapis.com/google.rpc.")) return;
    auto* any = rpc_status.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(value));
  });
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), rpc_status.message(),
                      rpc_status.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rpc_status;
  if (!status.error_details().empty() && rpc_status.ParseFromString(status.error_details())) {
    for (const auto& any : rpc_status.details()) {
      out.SetPayload(any.type_url(), absl::Cord(any.value()));
    }
  }
  return out;
}

}  // namespace trellis
