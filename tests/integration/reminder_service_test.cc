// ReminderService in-process, against a real redis-server, through a real channel with real
// tokens and a FakeClock.

#include <gtest/gtest.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/reminders/reminder_convert.h"
#include "common/redis/slot_index.h"
#include "services/reminders/reminder_service.h"
#include "services/reminders/store/reminder_store.h"
#include "tests/integration/reminder_test_util.h"
#include "tests/support/service_fixture.h"
#include "tests/support/status_details.h"

namespace trellis::reminders {
namespace {

// Entries of every due part a walk names (ARGV); a cluster has one per slot.
const redis::Script kCountScript("test_due_count", R"lua(
local n = 0
for i = 1, #ARGV do n = n + redis.call('ZCARD', ARGV[i]) end
return n
)lua", redis::ScriptAccess::kRead);

namespace v1 = ::trellis::v1;
using testing::FieldsOf;
using testing::ReasonOf;
using testing::ServiceFixture;

using rtest::Daily;
using rtest::IdOf;
using rtest::Ms;
using rtest::Practice;
using rtest::Utc;

class ReminderServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // No background dispatcher: these tests inspect the due index as the handlers leave it.
    fixture_.Start([](const server::ServiceEnv& env) {
      ReminderServiceOptions options;
      options.run_dispatcher = false;
      return BuildReminderServiceWith(env, options);
    });
    stub_ = v1::ReminderService::NewStub(fixture_.channel());
    token_ = fixture_.Token();
  }

  const std::string& Tok(const std::string& token) { return token.empty() ? token_ : token; }

  grpc::Status Create(const v1::Reminder& r, v1::Reminder* out, const std::string& request_id = "",
                      const std::string& token = "") {
    v1::CreateReminderRequest req;
    *req.mutable_reminder() = r;
    req.set_request_id(request_id);
    return stub_->CreateReminder(ServiceFixture::Context(Tok(token)).get(), req, out);
  }

  v1::Reminder MustCreate(const v1::Reminder& r) {
    v1::Reminder out;
    grpc::Status s = Create(r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status Get(const std::string& name, v1::Reminder* out, const std::string& token = "") {
    v1::GetReminderRequest req;
    req.set_name(name);
    return stub_->GetReminder(ServiceFixture::Context(Tok(token)).get(), req, out);
  }

  grpc::Status Update(const std::string& name, const v1::Reminder& patch, const std::string& etag,
                      std::vector<std::string> paths, v1::Reminder* out) {
    v1::UpdateReminderRequest req;
    *req.mutable_reminder() = patch;
    req.mutable_reminder()->set_name(name);
    for (auto& p : paths) req.mutable_update_mask()->add_paths(p);
    req.set_etag(etag);
    return stub_->UpdateReminder(ServiceFixture::Context(token_).get(), req, out);
  }

  grpc::Status Delete(const std::string& name, v1::Reminder* out, const std::string& etag = "") {
    v1::DeleteReminderRequest req;
    req.set_name(name);
    req.set_etag(etag);
    return stub_->DeleteReminder(ServiceFixture::Context(token_).get(), req, out);
  }

  grpc::Status List(const v1::ListRemindersRequest& req, v1::ListRemindersResponse* out) {
    return stub_->ListReminders(ServiceFixture::Context(token_).get(), req, out);
  }

  std::string Redis(const std::vector<std::string>& args) {
    auto r = fixture_.RedisCommand(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }

  std::string DueKeyOf(const std::string& patient, const std::string& tenant = "t1") {
    return DueKey(fixture_.pool(), DueBucketOf(fixture_.pool(), tenant, patient));
  }

  // The due score of a reminder, or "(nil)".
  std::string DueScore(const v1::Reminder& r, const std::string& tenant = "t1") {
    return Redis(
        {"ZSCORE", DueKeyOf(r.patient(), tenant), DueMember(tenant, r.patient(), IdOf(r.name()))});
  }

  // Entries across every due bucket.
  int DueEntries() {
    int total = 0;
    if (fixture_.clustered()) {  // a bucket per slot: walked node by node
      auto walked = redis::WalkIndex(fixture_.pool(), ClusterDueIndex(), kCountScript, {});
      EXPECT_TRUE(walked.ok()) << walked.status();
      if (walked.ok()) {
        for (const redis::Reply& chunk : *walked) total += static_cast<int>(chunk.integer);
      }
      return total;
    }
    for (int b = 0; b < kDueBuckets; ++b) {
      int n = 0;
      EXPECT_TRUE(absl::SimpleAtoi(Redis({"ZCARD", DueKey(fixture_.pool(), b)}), &n));
      total += n;
    }
    return total;
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::ReminderService::Stub> stub_;
  std::string token_;
};

TEST_F(ReminderServiceTest, CreateComputesNextOccurrenceAndIsIdempotentWithRequestId) {
  v1::Reminder first;
  ASSERT_TRUE(Create(Practice(), &first, "req-1").ok());
  EXPECT_TRUE(absl::StartsWith(first.name(), "patients/p1/reminders/"));
  EXPECT_EQ(first.state(), v1::REMINDER_STATE_ACTIVE);
  EXPECT_EQ(first.etag(), "r1");
  // 2026-01-05 09:00Z; 20:00 London in winter is 20:00Z.
  EXPECT_EQ(ToTime(first.next_occurrence_time()), Utc(2026, 1, 5, 20));
  EXPECT_EQ(ToTime(first.create_time()), Utc(2026, 1, 5, 9));

  v1::Reminder again;
  ASSERT_TRUE(Create(Practice(), &again, "req-1").ok());
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(Redis({"ZCARD", "trellis:rem:{t1:p1}:rems"}), "1");

  v1::Reminder other = Practice();
  other.set_text("Journal entry");
  grpc::Status reused = Create(other, &again, "req-1");
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(reused), "REQUEST_ID_REUSED");

  v1::Reminder read;
  ASSERT_TRUE(Get(first.name(), &read).ok());
  EXPECT_EQ(read.text(), "Breathing exercise: 10 minutes");
  EXPECT_EQ(read.etag(), "r1");
  EXPECT_EQ(ToTime(read.next_occurrence_time()), Utc(2026, 1, 5, 20));

  // Without request_id a retry creates a second reminder.
  MustCreate(Practice());
  EXPECT_EQ(Redis({"ZCARD", "trellis:rem:{t1:p1}:rems"}), "2");
}

TEST_F(ReminderServiceTest, InvalidInputNamesTheFieldAndStoresNothing) {
  struct Case {
    std::string rrule;
    std::string zone;
    std::string field;
  };
  std::vector<Case> cases = {
      {"FREQ=DAILY\r\nX-EVIL=1", "Europe/London", "reminder.schedule.rrule"},
      {"FREQ=DAILY;COUNT=0", "Europe/London", "reminder.schedule.rrule"},
      {"FREQ=MINUTELY", "Europe/London", "reminder.schedule.rrule"},
      {"FREQ=DAILY", "Mars/Olympus_Mons", "reminder.schedule.time_zone"},
      {"FREQ=DAILY", "Europe/London\n", "reminder.schedule.time_zone"},
  };
  for (const Case& c : cases) {
    v1::Reminder r = Practice();
    *r.mutable_schedule() = Daily(2026, 1, 5, 20, 0, c.zone, c.rrule);
    v1::Reminder out;
    grpc::Status s = Create(r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.rrule << " " << c.zone;
    EXPECT_TRUE(FieldsOf(s).count(c.field))
        << c.rrule << " " << c.zone << ": " << s.error_message();
    EXPECT_EQ(ReasonOf(s), "INVALID_FIELD");
  }
  v1::Reminder r = Practice();
  r.clear_text();
  r.set_kind(v1::REMINDER_KIND_CHECK_IN_QUESTIONNAIRE);
  v1::Reminder out;
  grpc::Status s = Create(r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("reminder.text"));
  EXPECT_TRUE(FieldsOf(s).count("reminder.instrument"));
  r = Practice();
  r.set_kind(v1::REMINDER_KIND_PLAN_REVIEW);
  s = Create(r, &out);
  EXPECT_TRUE(FieldsOf(s).count("reminder.clinician"));
  EXPECT_EQ(Redis({"EXISTS", "trellis:rem:{t1:p1}:rems"}), "0");
  EXPECT_EQ(DueEntries(), 0);
}

TEST_F(ReminderServiceTest, NextOccurrenceFollowsLocalTimeAcrossDst) {
  fixture_.clock().Set(Utc(2024, 3, 30, 12));
  v1::Reminder r = Practice();
  *r.mutable_schedule() = Daily(2024, 3, 30, 20, 0, "Europe/London");
  v1::Reminder created = MustCreate(r);
  EXPECT_EQ(ToTime(created.next_occurrence_time()), Utc(2024, 3, 30, 20));
  EXPECT_EQ(DueScore(created), Ms(Utc(2024, 3, 30, 20)));

  // Clocks go forward on 2024-03-31: 20:00 BST is 19:00Z.
  fixture_.clock().Set(Utc(2024, 3, 30, 21));
  v1::Reminder read;
  ASSERT_TRUE(Get(created.name(), &read).ok());
  EXPECT_EQ(ToTime(read.next_occurrence_time()), Utc(2024, 3, 31, 19));

  // A schedule change after the change keeps 20:00 local.
  v1::Reminder patch;
  *patch.mutable_schedule() = Daily(2024, 4, 1, 20, 0, "Europe/London");
  v1::Reminder updated;
  ASSERT_TRUE(Update(created.name(), patch, created.etag(), {"schedule"}, &updated).ok());
  EXPECT_EQ(ToTime(updated.next_occurrence_time()), Utc(2024, 4, 1, 19));
  EXPECT_EQ(DueScore(created), Ms(Utc(2024, 4, 1, 19)));
}

TEST_F(ReminderServiceTest, DueIndexHoldsOneEntryPerActiveReminderAtItsNextTime) {
  std::vector<v1::Reminder> created;
  for (const char* p : {"p1", "p2", "p3", "p4"}) created.push_back(MustCreate(Practice(p)));
  created.push_back(MustCreate(Practice("p1")));
  EXPECT_EQ(DueEntries(), 5);
  for (const auto& r : created) {
    EXPECT_EQ(DueScore(r), Ms(ToTime(r.next_occurrence_time()))) << r.name();
    if (!fixture_.clustered()) {
      EXPECT_TRUE(absl::StrContains(DueKeyOf(r.patient()), "trellis:rem:{due:"));
    }
  }

  // A schedule change moves the entry; it stays one entry.
  v1::Reminder patch;
  patch.mutable_schedule()->CopyFrom(Daily(2026, 1, 5, 7, 30, "America/New_York"));
  v1::Reminder moved;
  ASSERT_TRUE(Update(created[0].name(), patch, created[0].etag(), {"schedule"}, &moved).ok());
  // 07:30 EST on 2026-01-06 (09:00Z now is 04:00 in New York: today's 07:30 is still ahead).
  EXPECT_EQ(ToTime(moved.next_occurrence_time()), Utc(2026, 1, 5, 12, 30));
  EXPECT_EQ(DueScore(moved), Ms(Utc(2026, 1, 5, 12, 30)));
  EXPECT_EQ(DueEntries(), 5);

  // Ending removes it.
  v1::Reminder ended;
  ASSERT_TRUE(Delete(created[1].name(), &ended).ok());
  EXPECT_EQ(DueScore(created[1]), "(nil)");
  EXPECT_EQ(DueEntries(), 4);
}

TEST_F(ReminderServiceTest, UpdateChecksEtagAndMask) {
  v1::Reminder created = MustCreate(Practice());
  v1::Reminder patch;
  patch.set_text("Breathing exercise: 15 minutes");
  v1::Reminder updated;
  ASSERT_TRUE(Update(created.name(), patch, created.etag(), {"text"}, &updated).ok());
  EXPECT_EQ(updated.text(), "Breathing exercise: 15 minutes");
  EXPECT_EQ(updated.etag(), "r2");
  EXPECT_EQ(updated.schedule().rrule(), "FREQ=DAILY");
  EXPECT_EQ(DueScore(created), Ms(Utc(2026, 1, 5, 20)));

  grpc::Status stale = Update(created.name(), patch, created.etag(), {"text"}, &updated);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(stale), "ETAG_MISMATCH");

  grpc::Status mask = Update(created.name(), patch, "r2", {"patient", "kind"}, &updated);
  EXPECT_EQ(mask.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(mask).count("update_mask"));

  v1::Reminder bad;
  bad.mutable_schedule()->set_rrule("FREQ=SECONDLY");
  grpc::Status rule = Update(created.name(), bad, "r2", {"schedule.rrule"}, &updated);
  EXPECT_EQ(rule.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(rule).count("reminder.schedule.rrule")) << rule.error_message();

  v1::Reminder weekly;
  weekly.mutable_schedule()->set_rrule("FREQ=WEEKLY;BYDAY=FR");
  ASSERT_TRUE(Update(created.name(), weekly, "r2", {"schedule.rrule"}, &updated).ok());
  EXPECT_EQ(ToTime(updated.next_occurrence_time()), Utc(2026, 1, 9, 20));  // Friday
  EXPECT_EQ(DueScore(created), Ms(Utc(2026, 1, 9, 20)));
  EXPECT_EQ(updated.schedule().time_zone(), "Europe/London");
}

TEST_F(ReminderServiceTest, DeleteIsSoftAndIdempotent) {
  v1::Reminder created = MustCreate(Practice());
  v1::Reminder out;
  grpc::Status stale = Delete(created.name(), &out, "r7");
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED);
  ASSERT_TRUE(Delete(created.name(), &out, "r1").ok());
  EXPECT_EQ(out.state(), v1::REMINDER_STATE_ENDED);
  EXPECT_EQ(out.end_reason(), v1::REMINDER_END_REASON_DELETED);
  EXPECT_FALSE(out.has_next_occurrence_time());
  EXPECT_EQ(out.etag(), "r2");
  v1::Reminder again;
  ASSERT_TRUE(Delete(created.name(), &again).ok());
  EXPECT_EQ(again.etag(), "r2");
  v1::Reminder read;
  ASSERT_TRUE(Get(created.name(), &read).ok());
  EXPECT_EQ(read.state(), v1::REMINDER_STATE_ENDED);

  v1::Reminder patch;
  patch.set_text("x");
  grpc::Status closed = Update(created.name(), patch, "r2", {"text"}, &out);
  EXPECT_EQ(closed.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(closed), "RESOURCE_CLOSED");

  v1::ListRemindersRequest req;
  req.set_patient("p1");
  v1::ListRemindersResponse page;
  ASSERT_TRUE(List(req, &page).ok());
  EXPECT_EQ(page.reminders_size(), 0);
  req.add_states(v1::REMINDER_STATE_ENDED);
  ASSERT_TRUE(List(req, &page).ok());
  ASSERT_EQ(page.reminders_size(), 1);
  EXPECT_EQ(page.reminders(0).name(), created.name());

  v1::Reminder missing;
  EXPECT_EQ(Get("patients/p1/reminders/nope", &missing).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get("reminders/nope", &missing).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ReminderServiceTest, ListFiltersAndPagesWithTokensBoundToFilters) {
  std::vector<std::string> names;
  for (int i = 0; i < 7; ++i) {
    v1::Reminder r = Practice();
    if (i % 3 == 0) r.set_goal("patients/p1/goals/g1");
    if (i == 6) {
      r.set_kind(v1::REMINDER_KIND_CHECK_IN_QUESTIONNAIRE);
      r.set_instrument("phq9");
    }
    names.push_back(MustCreate(r).name());
    fixture_.clock().Advance(absl::Seconds(1));
  }
  MustCreate(Practice("p2"));

  v1::ListRemindersRequest req;
  req.set_patient("p1");
  req.set_page_size(3);
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    req.set_page_token(token);
    v1::ListRemindersResponse page;
    ASSERT_TRUE(List(req, &page).ok());
    for (const auto& r : page.reminders()) seen.push_back(r.name());
    token = page.next_page_token();
    ++pages;
    if (pages == 1) {
      v1::ListRemindersRequest other = req;
      other.set_page_token(token);
      other.add_kinds(v1::REMINDER_KIND_PRACTICE);
      v1::ListRemindersResponse bad;
      grpc::Status s = List(other, &bad);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_TRUE(FieldsOf(s).count("page_token"));
    }
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, names);
  EXPECT_EQ(pages, 3);

  v1::ListRemindersRequest by_goal;
  by_goal.set_patient("p1");
  by_goal.set_goal("patients/p1/goals/g1");
  v1::ListRemindersResponse page;
  ASSERT_TRUE(List(by_goal, &page).ok());
  ASSERT_EQ(page.reminders_size(), 3);
  EXPECT_EQ(page.reminders(0).name(), names[0]);
  EXPECT_EQ(page.reminders(2).name(), names[6]);

  v1::ListRemindersRequest by_kind;
  by_kind.set_patient("p1");
  by_kind.add_kinds(v1::REMINDER_KIND_CHECK_IN_QUESTIONNAIRE);
  ASSERT_TRUE(List(by_kind, &page).ok());
  ASSERT_EQ(page.reminders_size(), 1);
  EXPECT_EQ(page.reminders(0).instrument(), "phq9");

  v1::ListRemindersRequest bad;
  bad.set_patient("p1");
  bad.set_page_size(-1);
  bad.set_goal("patients/p2/goals/g1");
  grpc::Status s = List(bad, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("page_size"));
  EXPECT_TRUE(FieldsOf(s).count("goal"));
}

TEST_F(ReminderServiceTest, PauseKeepsTheScheduleAndResumeRecordsSkippedOccurrences) {
  v1::Reminder created = MustCreate(Practice());
  v1::PauseReminderRequest pause;
  pause.set_name(created.name());
  pause.set_reason("holiday");
  v1::Reminder paused;
  ASSERT_TRUE(stub_->PauseReminder(ServiceFixture::Context(token_).get(), pause, &paused).ok());
  EXPECT_EQ(paused.state(), v1::REMINDER_STATE_PAUSED);
  EXPECT_FALSE(paused.has_next_occurrence_time());  // open-ended pause: nothing will be delivered
  EXPECT_EQ(paused.schedule().rrule(), "FREQ=DAILY");
  EXPECT_EQ(paused.etag(), "r2");
  // The due entry stays at the next schedule occurrence (the dispatcher skips it as paused).
  EXPECT_EQ(DueScore(created), Ms(Utc(2026, 1, 5, 20)));

  // Pausing again with the same window changes nothing.
  v1::Reminder same;
  ASSERT_TRUE(stub_->PauseReminder(ServiceFixture::Context(token_).get(), pause, &same).ok());
  EXPECT_EQ(same.etag(), "r2");

  // A client may not pause.
  v1::Reminder out;
  grpc::Status denied = stub_->PauseReminder(
      ServiceFixture::Context(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), pause, &out);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Two evenings pass (2026-01-05 and -06 at 20:00Z) inside the pause.
  fixture_.clock().Set(Utc(2026, 1, 7, 9));
  v1::ResumeReminderRequest resume;
  resume.set_name(created.name());
  resume.set_etag("r2");
  v1::Reminder resumed;
  ASSERT_TRUE(stub_->ResumeReminder(ServiceFixture::Context(token_).get(), resume, &resumed).ok());
  EXPECT_EQ(resumed.state(), v1::REMINDER_STATE_ACTIVE);
  EXPECT_FALSE(resumed.has_pause());
  EXPECT_EQ(ToTime(resumed.next_occurrence_time()), Utc(2026, 1, 7, 20));
  EXPECT_EQ(DueScore(created), Ms(Utc(2026, 1, 7, 20)));
  std::string id = IdOf(created.name());
  EXPECT_EQ(Redis({"HLEN", absl::StrCat("trellis:rem:{t1:p1}:occ:", id)}), "2");
  EXPECT_EQ(Redis({"HGET", absl::StrCat("trellis:rem:{t1:p1}:occ:", id), Ms(Utc(2026, 1, 6, 20))}),
            "skipped_paused");
  EXPECT_EQ(Redis({"ZCARD", absl::StrCat("trellis:rem:{t1:p1}:occt:", id)}), "2");

  // Resuming a reminder that is not paused returns it unchanged.
  resume.clear_etag();
  v1::Reminder again;
  ASSERT_TRUE(stub_->ResumeReminder(ServiceFixture::Context(token_).get(), resume, &again).ok());
  EXPECT_EQ(again.etag(), resumed.etag());

  // A future window: ACTIVE now, next occurrence after the window, PAUSED inside it.
  v1::PauseReminderRequest window;
  window.set_name(created.name());
  *window.mutable_start_time() = ToProto(Utc(2026, 1, 8, 0));
  *window.mutable_end_time() = ToProto(Utc(2026, 1, 10, 0));
  v1::Reminder planned;
  ASSERT_TRUE(stub_->PauseReminder(ServiceFixture::Context(token_).get(), window, &planned).ok());
  EXPECT_EQ(planned.state(), v1::REMINDER_STATE_ACTIVE);
  EXPECT_EQ(ToTime(planned.next_occurrence_time()), Utc(2026, 1, 7, 20));
  fixture_.clock().Set(Utc(2026, 1, 8, 9));
  v1::Reminder read;
  ASSERT_TRUE(Get(created.name(), &read).ok());
  EXPECT_EQ(read.state(), v1::REMINDER_STATE_PAUSED);
  EXPECT_EQ(ToTime(read.next_occurrence_time()), Utc(2026, 1, 10, 20));
  fixture_.clock().Set(Utc(2026, 1, 10, 9));
  ASSERT_TRUE(Get(created.name(), &read).ok());
  EXPECT_EQ(read.state(), v1::REMINDER_STATE_ACTIVE);

  // Invalid windows.
  v1::PauseReminderRequest bad;
  bad.set_name(created.name());
  *bad.mutable_start_time() = ToProto(Utc(2026, 1, 1, 0));
  *bad.mutable_end_time() = ToProto(Utc(2025, 12, 1, 0));
  grpc::Status s = stub_->PauseReminder(ServiceFixture::Context(token_).get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("start_time"));
  EXPECT_TRUE(FieldsOf(s).count("end_time"));
}

TEST_F(ReminderServiceTest, EndGoalRemindersEndsEveryReminderOfTheGoalOnce) {
  v1::Reminder a = Practice();
  a.set_goal("patients/p1/goals/g1");
  v1::Reminder b = a;
  b.set_kind(v1::REMINDER_KIND_HOMEWORK);
  v1::Reminder other = Practice();
  other.set_goal("patients/p1/goals/g2");
  v1::Reminder ra = MustCreate(a), rb = MustCreate(b), ro = MustCreate(other);
  v1::Reminder deleted;
  v1::Reminder rd = MustCreate(a);
  ASSERT_TRUE(Delete(rd.name(), &deleted).ok());

  v1::EndGoalRemindersRequest req;
  req.set_goal("patients/p1/goals/g1");
  req.set_reason("goal completed");
  req.set_request_id("outbox-1");
  v1::EndGoalRemindersResponse resp;
  grpc::Status denied = stub_->EndGoalReminders(ServiceFixture::Context(token_).get(), req, &resp);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  std::string service = fixture_.Token("t1", v1::ROLE_SERVICE);
  v1::EndGoalRemindersRequest no_id = req;
  no_id.clear_request_id();
  grpc::Status invalid =
      stub_->EndGoalReminders(ServiceFixture::Context(service).get(), no_id, &resp);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(invalid).count("request_id"));

  ASSERT_TRUE(stub_->EndGoalReminders(ServiceFixture::Context(service).get(), req, &resp).ok());
  std::set<std::string> ended(resp.reminders().begin(), resp.reminders().end());
  EXPECT_EQ(ended, (std::set<std::string>{ra.name(), rb.name()}));
  for (const auto& r : {ra, rb}) {
    v1::Reminder read;
    ASSERT_TRUE(Get(r.name(), &read).ok());
    EXPECT_EQ(read.state(), v1::REMINDER_STATE_ENDED);
    EXPECT_EQ(read.end_reason(), v1::REMINDER_END_REASON_GOAL_CLOSED);
    EXPECT_EQ(DueScore(r), "(nil)");
  }
  v1::Reminder read;
  ASSERT_TRUE(Get(ro.name(), &read).ok());
  EXPECT_EQ(read.state(), v1::REMINDER_STATE_ACTIVE);
  ASSERT_TRUE(Get(rd.name(), &read).ok());
  EXPECT_EQ(read.end_reason(), v1::REMINDER_END_REASON_DELETED);
  EXPECT_EQ(DueEntries(), 1);

  // The same outbox entry again: the first response, nothing changed.
  v1::EndGoalRemindersResponse again;
  ASSERT_TRUE(stub_->EndGoalReminders(ServiceFixture::Context(service).get(), req, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), resp.SerializeAsString());
  // Another entry for the same goal ends nothing more; a goal without reminders is no error.
  req.set_request_id("outbox-2");
  ASSERT_TRUE(stub_->EndGoalReminders(ServiceFixture::Context(service).get(), req, &again).ok());
  EXPECT_EQ(again.reminders_size(), 0);
  req.set_goal("patients/p1/goals/none");
  req.set_request_id("outbox-3");
  ASSERT_TRUE(stub_->EndGoalReminders(ServiceFixture::Context(service).get(), req, &again).ok());
  EXPECT_EQ(again.reminders_size(), 0);
}

TEST_F(ReminderServiceTest, PreviewScheduleReturnsUpTo500OccurrencesWithoutStoring) {
  v1::PreviewScheduleRequest req;
  *req.mutable_schedule() = Daily(2027, 3, 13, 2, 30, "America/New_York");
  req.set_count(500);
  v1::PreviewScheduleResponse resp;
  std::string client = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
  ASSERT_TRUE(stub_->PreviewSchedule(ServiceFixture::Context(client).get(), req, &resp).ok());
  ASSERT_EQ(resp.occurrences_size(), 500);
  EXPECT_FALSE(resp.exhausted());
  // 2027-03-14: clocks go 02:00 -> 03:00 in New York; 02:30 fires at 03:30 EDT.
  EXPECT_FALSE(resp.occurrences(0).shifted());
  EXPECT_TRUE(resp.occurrences(1).shifted());
  EXPECT_EQ(resp.occurrences(1).local_time(), "2027-03-14T03:30:00-04:00");
  EXPECT_EQ(ToTime(resp.occurrences(1).time()), Utc(2027, 3, 14, 7, 30));
  EXPECT_EQ(resp.occurrences(1).rule_local_time().hours(), 2);

  req.set_count(501);
  grpc::Status s = stub_->PreviewSchedule(ServiceFixture::Context(client).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("count"));

  req.set_count(3);
  req.mutable_schedule()->set_rrule("FREQ=DAILY;COUNT=2");
  ASSERT_TRUE(stub_->PreviewSchedule(ServiceFixture::Context(client).get(), req, &resp).ok());
  EXPECT_EQ(resp.occurrences_size(), 2);
  EXPECT_TRUE(resp.exhausted());

  req.mutable_schedule()->set_time_zone("Nowhere/Else");
  s = stub_->PreviewSchedule(ServiceFixture::Context(client).get(), req, &resp);
  EXPECT_TRUE(FieldsOf(s).count("schedule.time_zone"));
  EXPECT_EQ(DueEntries(), 0);
}

TEST_F(ReminderServiceTest, TenantsAndClientsSeeOnlyTheirOwnReminders) {
  v1::Reminder created = MustCreate(Practice());
  v1::Reminder out;
  grpc::Status other_tenant = Get(created.name(), &out, fixture_.Token("t2"));
  EXPECT_EQ(other_tenant.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status other_client =
      Get(created.name(), &out, fixture_.Token("t1", v1::ROLE_CLIENT, "p2"));
  EXPECT_EQ(other_client.error_code(), grpc::StatusCode::NOT_FOUND);
  std::string own = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
  ASSERT_TRUE(Get(created.name(), &out, own).ok());
  grpc::Status create = Create(Practice(), &out, "", own);
  EXPECT_EQ(create.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status unauth = Get(created.name(), &out, "not-a-token");
  EXPECT_EQ(unauth.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // t2 deleting t1's reminder finds nothing; t1's reminder is untouched.
  v1::DeleteReminderRequest del;
  del.set_name(created.name());
  grpc::Status s =
      stub_->DeleteReminder(ServiceFixture::Context(fixture_.Token("t2")).get(), del, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Get(created.name(), &out).ok());
  EXPECT_EQ(out.state(), v1::REMINDER_STATE_ACTIVE);
}

TEST_F(ReminderServiceTest, RecordCompletionAndAdherence) {
  v1::Reminder created = MustCreate(Practice());
  std::string id = IdOf(created.name());
  // Three evenings have passed: 2026-01-05, -06 and -07 at 20:00Z.
  fixture_.clock().Set(Utc(2026, 1, 7, 21));
  std::string client = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
  auto record = [&](const std::string& occurrence, v1::CompletionOutcome outcome,
                    v1::Completion* out, const std::string& request_id = "",
                    absl::Duration snooze = absl::ZeroDuration()) {
    v1::RecordCompletionRequest req;
    if (occurrence.empty()) {
      req.set_reminder(created.name());
    } else {
      req.set_occurrence_id(absl::StrCat(created.name(), "/occurrences/", occurrence));
    }
    req.set_outcome(outcome);
    req.set_request_id(request_id);
    if (snooze > absl::ZeroDuration()) {
      req.mutable_snooze_duration()->set_seconds(absl::ToInt64Seconds(snooze));
    }
    return stub_->RecordCompletion(ServiceFixture::Context(client).get(), req, out);
  };

  // Without an occurrence id: the latest due one.
  v1::Completion done;
  ASSERT_TRUE(record("", v1::COMPLETION_OUTCOME_DONE, &done).ok());
  EXPECT_EQ(done.occurrence_id(), absl::StrCat(created.name(), "/occurrences/20260107T200000Z"));
  EXPECT_EQ(done.name(), absl::StrCat(done.occurrence_id(), "/completion"));
  EXPECT_EQ(done.actor().role(), v1::ROLE_CLIENT);
  // The same outcome again returns the first completion; another final outcome is refused.
  fixture_.clock().Advance(absl::Minutes(1));
  v1::Completion again;
  ASSERT_TRUE(record("20260107T200000Z", v1::COMPLETION_OUTCOME_DONE, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), done.SerializeAsString());
  grpc::Status conflict = record("20260107T200000Z", v1::COMPLETION_OUTCOME_SKIPPED, &again);
  EXPECT_EQ(conflict.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(conflict), "ALREADY_COMPLETED");

  // Snooze once (re-queued in the due index), not twice; then done.
  v1::Completion snoozed;
  ASSERT_TRUE(
      record("20260106T200000Z", v1::COMPLETION_OUTCOME_SNOOZED, &snoozed, "", absl::Minutes(10))
          .ok());
  EXPECT_EQ(snoozed.outcome(), v1::COMPLETION_OUTCOME_SNOOZED);
  EXPECT_EQ(ToTime(snoozed.snooze_until()), Utc(2026, 1, 7, 21, 11));
  EXPECT_EQ(Redis({"ZSCORE", DueKeyOf("p1"),
                   absl::StrCat(DueMember("t1", "p1", id), "|snooze|", Ms(Utc(2026, 1, 6, 20)))}),
            Ms(Utc(2026, 1, 7, 21, 11)));
  grpc::Status limit =
      record("20260106T200000Z", v1::COMPLETION_OUTCOME_SNOOZED, &again, "", absl::Minutes(10));
  EXPECT_EQ(ReasonOf(limit), "SNOOZE_LIMIT");
  ASSERT_TRUE(record("20260106T200000Z", v1::COMPLETION_OUTCOME_DONE, &again).ok());

  // request_id: a retry returns the first result.
  v1::Completion skipped, replay;
  ASSERT_TRUE(record("20260105T200000Z", v1::COMPLETION_OUTCOME_SKIPPED, &skipped, "c-1").ok());
  ASSERT_TRUE(record("20260105T200000Z", v1::COMPLETION_OUTCOME_SKIPPED, &replay, "c-1").ok());
  EXPECT_EQ(replay.SerializeAsString(), skipped.SerializeAsString());

  // Bad input.
  grpc::Status s = record("20260107T210000Z", v1::COMPLETION_OUTCOME_DONE, &again);
  EXPECT_TRUE(FieldsOf(s).count("occurrence_id")) << s.error_message();
  s = record("20260107T200000Z", v1::COMPLETION_OUTCOME_SNOOZED, &again, "", absl::Hours(25));
  EXPECT_TRUE(FieldsOf(s).count("snooze_duration"));
  s = record("2026-01-07", v1::COMPLETION_OUTCOME_DONE, &again);
  EXPECT_TRUE(FieldsOf(s).count("occurrence_id"));
  v1::RecordCompletionRequest with_value;
  with_value.set_reminder(created.name());
  with_value.set_outcome(v1::COMPLETION_OUTCOME_DONE);
  with_value.set_value(15);
  s = stub_->RecordCompletion(ServiceFixture::Context(client).get(), with_value, &again);
  EXPECT_TRUE(FieldsOf(s).count("value"));
  s = stub_->RecordCompletion(
      ServiceFixture::Context(fixture_.Token("t1", v1::ROLE_CLIENT, "p2")).get(), with_value,
      &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);

  // Adherence: done 2 (one after a snooze), skipped 1, and tonight's occurrence not yet due.
  v1::GetAdherenceRequest adh;
  adh.set_reminder(created.name());
  *adh.mutable_interval()->mutable_start_time() = ToProto(Utc(2026, 1, 5, 0));
  v1::AdherenceReport report;
  ASSERT_TRUE(stub_->GetAdherence(ServiceFixture::Context(client).get(), adh, &report).ok());
  EXPECT_EQ(report.totals().scheduled(), 3);
  EXPECT_EQ(report.totals().done(), 2);
  EXPECT_EQ(report.totals().skipped(), 1);
  EXPECT_EQ(report.totals().snoozed(), 1);
  EXPECT_EQ(report.totals().pending(), 0);
  EXPECT_NEAR(report.totals().adherence_rate(), 2.0 / 3.0, 1e-9);
  EXPECT_EQ(report.current_streak(), 2);
  ASSERT_EQ(report.reminders_size(), 1);

  // Per patient: a second reminder with one pending occurrence.
  fixture_.clock().Set(Utc(2026, 1, 5, 9));
  v1::Reminder second = MustCreate(Practice());
  fixture_.clock().Set(Utc(2026, 1, 5, 21));
  v1::GetAdherenceRequest by_patient;
  by_patient.set_patient("p1");
  *by_patient.mutable_interval()->mutable_start_time() = ToProto(Utc(2026, 1, 5, 0));
  *by_patient.mutable_interval()->mutable_end_time() = ToProto(Utc(2026, 1, 5, 21));
  ASSERT_TRUE(stub_->GetAdherence(ServiceFixture::Context(token_).get(), by_patient, &report).ok());
  EXPECT_EQ(report.reminders_size(), 2);
  EXPECT_EQ(report.totals().skipped(), 1);
  EXPECT_EQ(report.totals().pending(), 1);
  v1::GetAdherenceRequest neither;
  s = stub_->GetAdherence(ServiceFixture::Context(token_).get(), neither, &report);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Ending a reminder removes its pending snooze re-delivery from the due index too.
  v1::RecordCompletionRequest snooze;
  snooze.set_reminder(second.name());
  snooze.set_outcome(v1::COMPLETION_OUTCOME_SNOOZED);
  snooze.mutable_snooze_duration()->set_seconds(600);
  v1::Completion pending;
  ASSERT_TRUE(
      stub_->RecordCompletion(ServiceFixture::Context(client).get(), snooze, &pending).ok());
  EXPECT_EQ(DueEntries(), 4);  // two reminders + two snoozes
  v1::Reminder ended;
  ASSERT_TRUE(Delete(second.name(), &ended).ok());
  EXPECT_EQ(DueEntries(), 2);  // the first reminder and its snooze
  EXPECT_EQ(DueScore(second), "(nil)");
}

TEST_F(ReminderServiceTest, RedisOutageIsUnavailable) {
  if (fixture_.clustered()) GTEST_SKIP() << "stops the one redis-server; the cluster suite has its own";
  v1::Reminder created = MustCreate(Practice());
  fixture_.redis_server().Stop(/*hard=*/true);
  v1::Reminder out;
  grpc::Status down = Get(created.name(), &out);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(down), "STORE_UNAVAILABLE");
  grpc::Status write = Create(Practice(), &out);
  EXPECT_EQ(write.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(fixture_.redis_server().Restart().ok());
  grpc::Status up;
  for (int i = 0; i < 100; ++i) {
    up = Get(created.name(), &out);
    if (up.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(up.ok()) << up.error_message();
}

}  // namespace
}  // namespace trellis::reminders
