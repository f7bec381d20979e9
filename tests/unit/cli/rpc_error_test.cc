#include "cli/rpc_error.h"

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace trellis::cli {
namespace {

TEST(RpcError, NamesTheCodeAndKeepsTheMessage) {
  grpc::Status s(grpc::StatusCode::NOT_FOUND, "goal not found");
  EXPECT_EQ(DescribeRpcError(s), "NOT_FOUND: goal not found");
  EXPECT_EQ(CodeName(grpc::StatusCode::UNAVAILABLE), "UNAVAILABLE");
}

TEST(RpcError, ListsTheReasonAndEveryFieldViolation) {
  google::rpc::Status details;
  details.set_code(3);
  google::rpc::ErrorInfo info;
  info.set_reason("INVALID_FIELD");
  info.set_domain("trellis.v1");
  details.add_details()->PackFrom(info);
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("goal.title");
  v->set_description("is required");
  v = bad.add_field_violations();
  v->set_field("answers[8].value");
  v->set_description("must be 0..3");
  details.add_details()->PackFrom(bad);
  grpc::Status s(grpc::StatusCode::INVALID_ARGUMENT, "goal.title: is required (and 1 more)",
                 details.SerializeAsString());
  EXPECT_EQ(DescribeRpcError(s),
            "INVALID_ARGUMENT: goal.title: is required (and 1 more)\n"
            "  reason: INVALID_FIELD\n"
            "  field goal.title: is required\n"
            "  field answers[8].value: must be 0..3");
}

TEST(RpcError, ShowsPreconditionViolationsAndTheRetryDelay) {
  google::rpc::Status details;
  google::rpc::PreconditionFailure failure;
  auto* v = failure.add_violations();
  v->set_type("SMART");
  v->set_subject("T");
  v->set_description("the due date is missing");
  details.add_details()->PackFrom(failure);
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_nanos(500000000);
  details.add_details()->PackFrom(retry);
  grpc::Status s(grpc::StatusCode::FAILED_PRECONDITION, "not SMART", details.SerializeAsString());
  EXPECT_EQ(DescribeRpcError(s),
            "FAILED_PRECONDITION: not SMART\n"
            "  precondition SMART T: the due date is missing\n"
            "  retry after: 500ms");
}

TEST(RpcError, IgnoresDetailsItCannotRead) {
  grpc::Status s(grpc::StatusCode::INTERNAL, "boom", "\xff\xff not a proto");
  EXPECT_EQ(DescribeRpcError(s), "INTERNAL: boom");
}

}  // namespace
}  // namespace trellis::cli
