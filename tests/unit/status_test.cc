#include "common/status/status.h"

#include <gtest/gtest.h>

#include "common/redis/reply.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace trellis {
namespace {

google::rpc::Status DetailsOf(const grpc::Status& s) {
  google::rpc::Status out;
  EXPECT_TRUE(out.ParseFromString(s.error_details()));
  return out;
}

TEST(StatusMapping, InvalidFieldCarriesBadRequestAndErrorInfo) {
  grpc::Status s = ToGrpcStatus(InvalidField("goal.title", "must be at most 200 characters"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "goal.title: must be at most 200 characters");
  google::rpc::Status details = DetailsOf(s);
  EXPECT_EQ(details.code(), 3);
  google::rpc::BadRequest bad_request;
  google::rpc::ErrorInfo info;
  bool has_bad_request = false, has_info = false;
  for (const auto& any : details.details()) {
    if (any.UnpackTo(&bad_request)) has_bad_request = true;
    if (any.UnpackTo(&info)) has_info = true;
  }
  ASSERT_TRUE(has_bad_request);
  ASSERT_TRUE(has_info);
  ASSERT_EQ(bad_request.field_violations_size(), 1);
  EXPECT_EQ(bad_request.field_violations(0).field(), "goal.title");
  EXPECT_EQ(info.reason(), "INVALID_FIELD");
  EXPECT_EQ(info.domain(), "trellis.v1");
}

TEST(StatusMapping, FieldViolationsReportsEveryField) {
  FieldViolations v;
  v.Add("a", "bad");
  v.Add("b.c", "worse");
  absl::Status s = v.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  auto list = FieldViolationsOf(s);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].first, "b.c");
  EXPECT_NE(s.message().find("and 1 more"), absl::string_view::npos);
}

TEST(StatusMapping, EmptyViolationsAreOk) { EXPECT_TRUE(FieldViolations().ToStatus().ok()); }

TEST(StatusMapping, MergePrefixesFields) {
  FieldViolations v;
  v.Merge(InvalidField("title", "required"), "goal");
  EXPECT_EQ(FieldViolationsOf(v.ToStatus())[0].first, "goal.title");
}

TEST(StatusMapping, StatusWithoutReasonGetsTheCodeNameAsReason) {
  grpc::Status s = ToGrpcStatus(absl::NotFoundError("goal not found"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(DetailsOf(s).details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "NOT_FOUND");
}

TEST(StatusMapping, OkMapsToOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(StatusMapping, RoundTripsThroughGrpcStatus) {
  absl::Status original = WithReason(absl::AbortedError("etag is stale"), "ETAG_MISMATCH");
  absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  EXPECT_EQ(back.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(back.message(), "etag is stale");
  EXPECT_EQ(ReasonOf(back), "ETAG_MISMATCH");
  absl::Status bad = FromGrpcStatus(ToGrpcStatus(InvalidField("x", "y")));
  ASSERT_EQ(FieldViolationsOf(bad).size(), 1u);
  EXPECT_EQ(FieldViolationsOf(bad)[0].first, "x");
}

TEST(RedisErrorMapping, ScriptOutcomesKeepCodeReasonAndMessage) {
  absl::Status s = redis::ErrorReplyToStatus("ABORTED:ETAG_MISMATCH etag is stale");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "etag is stale");
  EXPECT_EQ(ReasonOf(s), "ETAG_MISMATCH");
  absl::Status nf = redis::ErrorReplyToStatus("NOT_FOUND goal not found");
  EXPECT_EQ(nf.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(nf), "NOT_FOUND");
}

TEST(RedisErrorMapping, TransientServerStatesAreUnavailable) {
  for (const char* text :
       {"LOADING Redis is loading the dataset in memory",
        "READONLY You can't write against a read only replica.",
        "BUSY Redis is busy running a script.",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "NOAUTH Authentication required.", "MASTERDOWN Link with MASTER is down"}) {
    absl::Status s = redis::ErrorReplyToStatus(text);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << text;
    EXPECT_EQ(s.message().find("Redis"), absl::string_view::npos) << "leaks server text";
  }
}

TEST(RedisErrorMapping, RedirectionsAreTheirOwnKind) {
  EXPECT_EQ(redis::ClassifyErrorReply("MOVED 3999 127.0.0.1:6381"),
            redis::ErrorReplyKind::kRedirect);
  EXPECT_EQ(redis::ClassifyErrorReply("ASK 3999 :6381"), redis::ErrorReplyKind::kRedirect);
  EXPECT_EQ(redis::ClassifyErrorReply("TRYAGAIN Multiple keys request during rehashing of slot"),
            redis::ErrorReplyKind::kTransient);
  EXPECT_EQ(redis::ClassifyErrorReply("LOADING Redis is loading"),
            redis::ErrorReplyKind::kTransient);
  EXPECT_EQ(redis::ClassifyErrorReply("NOT_FOUND goal not found"),
            redis::ErrorReplyKind::kScriptOutcome);
  EXPECT_EQ(redis::ClassifyErrorReply("WRONGTYPE Operation against a key"),
            redis::ErrorReplyKind::kOther);
  // Outside the cluster client (a --redis_url pointing at a cluster node) a redirection cannot
  // be followed: retry may help once the operator fixes the address, so UNAVAILABLE.
  EXPECT_EQ(redis::ErrorReplyToStatus("MOVED 3999 127.0.0.1:6381").code(),
            absl::StatusCode::kUnavailable);
}

TEST(RedisErrorMapping, OtherErrorsAreInternalWithoutRedisText) {
  absl::Status s = redis::ErrorReplyToStatus(
      "WRONGTYPE Operation against a key holding the wrong kind of value");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "storage error");
  EXPECT_EQ(ReasonOf(s), "STORE_ERROR");
}

}  // namespace
}  // namespace trellis
