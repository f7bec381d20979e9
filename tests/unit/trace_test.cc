#include "common/trace/trace.h"

#include <gtest/gtest.h>

#include <set>

#include "common/outbox/outbox.h"

namespace trellis::trace {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool IsLowerHex(const std::string& s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return s.find_first_not_of('0') != std::string::npos;
}

TEST(Traceparent, ParsesTraceIdParentIdAndFlags) {
  auto span = ParseTraceparent(kValid);
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(span->flags, 1);
  EXPECT_EQ(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags, 0);
}

TEST(Traceparent, FormatIsTheInverseOfParse) {
  EXPECT_EQ(FormatTraceparent(*ParseTraceparent(kValid)), kValid);
  SpanContext span{
      .trace_id = "0af7651916cd43dd8448eb211c80319c", .span_id = "b7ad6b7169203331", .flags = 0xa3};
  EXPECT_EQ(FormatTraceparent(span), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-a3");
  EXPECT_EQ(FormatTraceparent(SpanContext{}), "");
}

TEST(Traceparent, RejectsAllZeroIds) {
  EXPECT_FALSE(ParseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
}

TEST(Traceparent, RejectsUpperCaseAndNonHexDigits) {
  EXPECT_FALSE(ParseTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
  EXPECT_FALSE(ParseTraceparent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
}

TEST(Traceparent, RejectsBadLengthsAndSeparators) {
  EXPECT_FALSE(ParseTraceparent(""));
  EXPECT_FALSE(ParseTraceparent("garbage"));
  // Trace id one digit short, parent id one digit long: still 55 characters.
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"));
  EXPECT_FALSE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01"));
  EXPECT_FALSE(ParseTraceparent("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"));
  // Version 00 has nothing after the flags.
  EXPECT_FALSE(ParseTraceparent(std::string(kValid) + "-"));
  EXPECT_FALSE(ParseTraceparent(std::string(kValid) + "0"));
}

TEST(Traceparent, RejectsVersionFfAndReadsLaterVersionsByTheirPrefix) {
  EXPECT_FALSE(ParseTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  auto later = ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra");
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra"));
}

TEST(NewTrace, MakesValidRandomIdsThatParseBack) {
  std::set<std::string> traces;
  for (int i = 0; i < 100; ++i) {
    SpanContext span = NewTrace();
    EXPECT_TRUE(IsLowerHex(span.trace_id, 32)) << span.trace_id;
    EXPECT_TRUE(IsLowerHex(span.span_id, 16)) << span.span_id;
    auto parsed = ParseTraceparent(FormatTraceparent(span));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->trace_id, span.trace_id);
    traces.insert(span.trace_id);
  }
  EXPECT_EQ(traces.size(), 100u);
}

TEST(ChildOf, KeepsTheTraceAndFlagsWithANewSpan) {
  SpanContext parent = *ParseTraceparent(kValid);
  SpanContext child = ChildOf(parent);
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_EQ(child.flags, parent.flags);
  EXPECT_TRUE(IsLowerHex(child.span_id, 16));
  EXPECT_NE(child.span_id, parent.span_id);
}

TEST(ChildOf, StartsANewTraceWithoutAParent) {
  SpanContext child = ChildOf(SpanContext{});
  EXPECT_TRUE(IsLowerHex(child.trace_id, 32));
  EXPECT_TRUE(IsLowerHex(child.span_id, 16));
}

TEST(RequestId, KeepsSafeIdsAndRefusesOthers) {
  EXPECT_EQ(SanitizeRequestId("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  EXPECT_EQ(SanitizeRequestId("req:42.a_b+c=~"), "req:42.a_b+c=~");
  EXPECT_EQ(SanitizeRequestId(""), "");
  EXPECT_EQ(SanitizeRequestId("has space"), "");
  EXPECT_EQ(SanitizeRequestId("pipe|x"), "");
  EXPECT_EQ(SanitizeRequestId("semi;x"), "");
  EXPECT_EQ(SanitizeRequestId("quote\"x"), "");
  EXPECT_EQ(SanitizeRequestId("new\nline"), "");
  EXPECT_EQ(SanitizeRequestId(std::string(kMaxRequestIdLength, 'a')),
            std::string(kMaxRequestIdLength, 'a'));
  EXPECT_EQ(SanitizeRequestId(std::string(kMaxRequestIdLength + 1, 'a')), "");
}

TEST(ServerCallContext, ContinuesTheCallersTraceWithANewSpan) {
  CallContext call = ServerCallContext(kValid, "req-1");
  EXPECT_EQ(call.span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(call.parent_id, "00f067aa0ba902b7");
  EXPECT_NE(call.span.span_id, "00f067aa0ba902b7");
  EXPECT_EQ(call.span.flags, 1);
  EXPECT_EQ(call.request_id, "req-1");
}

TEST(ServerCallContext, StartsATraceAndUsesItsIdAsRequestIdWhenNothingUsableCame) {
  CallContext call = ServerCallContext("00-zz", "bad request id");
  EXPECT_TRUE(IsLowerHex(call.span.trace_id, 32));
  EXPECT_EQ(call.parent_id, "");
  EXPECT_EQ(call.request_id, call.span.trace_id);
}

TEST(ResumedCallContext, IsTheStoredSpanItself) {
  CallContext resumed = ResumedCallContext(kValid, "req-9");
  EXPECT_EQ(FormatTraceparent(resumed.span), kValid);
  EXPECT_EQ(resumed.request_id, "req-9");
  CallContext fresh = ResumedCallContext("", "");
  EXPECT_TRUE(fresh.valid());
  EXPECT_EQ(fresh.request_id, fresh.span.trace_id);
}

}  // namespace
}  // namespace trellis::trace

namespace trellis::outbox {
namespace {

TEST(OutboxEntry, CarriesTheRecordingCallsTraceThroughEncoding) {
  trace::CallContext origin =
      trace::ServerCallContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "r-7");
  OutboxEntry entry =
      WithOrigin({.id = "e1", .kind = "EndGoalReminders", .payload = "a|b;c"}, origin);
  std::string encoded = EncodeEntry(entry);
  auto decoded = DecodeEntry(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->id, "e1");
  EXPECT_EQ(decoded->kind, "EndGoalReminders");
  EXPECT_EQ(decoded->payload, "a|b;c");
  EXPECT_EQ(decoded->traceparent, trace::FormatTraceparent(origin.span));
  EXPECT_EQ(decoded->request_id, "r-7");
  trace::CallContext relayed = OriginOf(*decoded);
  EXPECT_EQ(relayed.span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(relayed.span.span_id, origin.span.span_id);
  EXPECT_EQ(relayed.request_id, "r-7");
}

TEST(OutboxEntry, EntriesWrittenBeforeTheTraceFieldStillDecode) {
  auto decoded = DecodeEntry("e1|SetAchievementStatus|pay|load");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->id, "e1");
  EXPECT_EQ(decoded->kind, "SetAchievementStatus");
  EXPECT_EQ(decoded->payload, "pay|load");
  EXPECT_EQ(decoded->traceparent, "");
  // Relayed in a trace of its own.
  EXPECT_TRUE(OriginOf(*decoded).valid());
}

TEST(OutboxEntry, KeepsTheIdAndKindWhereAnOlderRelayReadsThem) {
  // An older relay splits at the first two '|' and uses only kind and payload.
  trace::CallContext origin = trace::ServerCallContext("", "");
  std::string encoded =
      EncodeEntry(WithOrigin({.id = "e1", .kind = "RecordMeasurement", .payload = "p"}, origin));
  size_t first = encoded.find('|'), second = encoded.find('|', first + 1);
  EXPECT_EQ(encoded.substr(first + 1, second - first - 1), "RecordMeasurement");
  EXPECT_EQ(encoded.substr(second + 1), "p");
}

TEST(OutboxEntry, DropsMalformedTraceFields) {
  auto decoded = DecodeEntry("e1;tp=nonsense;rid=bad id;x=1|K|p");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->id, "e1");
  EXPECT_EQ(decoded->traceparent, "");
  EXPECT_EQ(decoded->request_id, "");
}

}  // namespace
}  // namespace trellis::outbox
