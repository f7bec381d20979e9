#include "common/server/audit_service.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/ids/ids.h"
#include "common/log/log.h"
#include "common/server/admit.h"
#include "common/server/page_token.h"
#include "common/server/rpc.h"
#include "common/status/status.h"

namespace trellis::server {
namespace {

constexpr int kMaxPageSize = 1000;

// A timestamp a client may send: inside the proto range, nanos normalised.
std::optional<absl::Time> TimeOf(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() < -62135596800 || ts.seconds() > 253402300799 || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace

grpc::ServerUnaryReactor* AuditServiceHandler::ListAuditEvents(
    grpc::CallbackServerContext* ctx, const trellis::v1::ListAuditEventsRequest* request,
    trellis::v1::ListAuditEventsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations v;
  audit::ListQuery query;
  if (!request->patient().empty()) v.Merge(ValidateId("patient", request->patient()));
  if (request->has_start_time()) {
    auto t = TimeOf(request->start_time());
    if (t.has_value())
      query.start = *t;
    else
      v.Add("start_time", "is not a valid timestamp");
  }
  if (request->has_end_time()) {
    auto t = TimeOf(request->end_time());
    if (t.has_value())
      query.end = *t;
    else
      v.Add("end_time", "is not a valid timestamp");
  }
  if (query.start != absl::InfinitePast() && query.end != absl::InfiniteFuture() &&
      query.end <= query.start) {
    v.Add("end_time", "must be after start_time");
  }
  if (request->page_size() < 0 || request->page_size() > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be from 0 to ", kMaxPageSize));
  }
  std::string filters = absl::StrCat(
      request->patient(), "|", request->start_time().seconds(), ".", request->start_time().nanos(),
      "|", request->end_time().seconds(), ".", request->end_time().nanos());
  auto cursor = DecodePageToken(request->page_token(), filters);
  if (!cursor.ok()) v.Merge(cursor.status());
  auto who = Admit(env_, *ctx, "AuditService.ListAuditEvents", v.ToStatus(), "");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  if (env_.audit == nullptr) {
    return Finish(reactor, absl::FailedPreconditionError("this server keeps no audit trail")),
           reactor;
  }
  query.tenant = who->tenant;
  query.patient = request->patient();
  query.page_size = request->page_size() == 0 ? 100 : request->page_size();
  query.cursor = *cursor;
  env_.audit->List(
      query,
      [reactor, response, filters](absl::StatusOr<audit::ListPage> page) {
        if (!page.ok()) return Finish(reactor, page.status());
        for (auto& e : page->events) *response->add_events() = std::move(e);
        response->set_next_page_token(EncodePageToken(page->next_cursor, filters));
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

void AuditRelay::Start() {
  if (!log_->redis()->Clustered()) return;
  thread_ = std::thread([this] {
    bool failing = false;
    while (!stop_.WaitForNotificationWithTimeout(interval_)) {
      absl::StatusOr<int> moved = log_->MoveStaged();
      // Logged once per outage, not every pass; the entries wait in their slots meanwhile.
      if (!moved.ok() && !failing) {
        log::Warn("audit relay pass failed; staged entries wait",
                  {{"error", std::string(moved.status().message())}});
      }
      failing = !moved.ok();
    }
  });
}

void AuditRelay::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace trellis::server
