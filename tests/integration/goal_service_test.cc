// GoalService in-process, against a real redis-server, through a real channel with real tokens.

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/goals/goal_service.h"
#include "tests/support/service_fixture.h"
#include "tests/support/status_details.h"

namespace trellis::goals {
namespace {

namespace v1 = ::trellis::v1;
using testing::ServiceFixture;

v1::LocalDate Date(int y, int m, int d) {
  v1::LocalDate date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

// A goal that passes SMART on the fixture's clock (2026-01-05).
v1::Goal SmartGoal(const std::string& patient = "p1") {
  v1::Goal g;
  g.set_patient(patient);
  g.set_title("Reduce PHQ-9 score from 18 to 9");
  g.set_description(
      "Practice breathing exercises for 15 minutes daily and complete a PHQ-9 every two weeks");
  g.set_category(v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  g.set_priority(v1::GOAL_PRIORITY_HIGH);
  auto* m = g.mutable_measure();
  m->set_metric("phq9");
  m->set_direction(v1::MEASURE_DIRECTION_DECREASE);
  m->set_baseline(18);
  m->set_target(9);
  *g.mutable_start_date() = Date(2026, 1, 5);
  *g.mutable_due_date() = Date(2026, 4, 6);
  g.add_addresses()->set_text("depressed mood");
  g.set_expressed_by(v1::GOAL_EXPRESSED_BY_CLIENT);
  g.set_agreement(v1::GOAL_AGREEMENT_AGREED);
  return g;
}

v1::Goal VagueDraft(const std::string& patient = "p1") {
  v1::Goal g;
  g.set_patient(patient);
  g.set_title("Feel less anxious");
  return g;
}

using testing::DetailsOf;
using testing::FieldsOf;
using testing::ReasonOf;

class GoalServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start(BuildGoalService);
    stub_ = v1::GoalService::NewStub(fixture_.channel());
    token_ = fixture_.Token();
  }

  grpc::Status Create(const v1::Goal& goal, v1::Goal* out, const std::string& request_id = "",
                      const std::string& token = "") {
    v1::CreateGoalRequest req;
    *req.mutable_goal() = goal;
    req.set_request_id(request_id);
    return stub_->CreateGoal(ServiceFixture::Context(token.empty() ? token_ : token).get(), req,
                             out);
  }

  v1::Goal MustCreate(const v1::Goal& goal) {
    v1::Goal out;
    grpc::Status s = Create(goal, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status Get(const std::string& name, v1::Goal* out, const std::string& token = "") {
    v1::GetGoalRequest req;
    req.set_name(name);
    return stub_->GetGoal(ServiceFixture::Context(token.empty() ? token_ : token).get(), req, out);
  }

  grpc::Status Transition(const v1::Goal& goal, v1::GoalLifecycleStatus to,
                          v1::TransitionGoalResponse* out,
                          v1::OpenObjectivesAction action = v1::OPEN_OBJECTIVES_ACTION_UNSPECIFIED,
                          const std::string& request_id = "") {
    v1::TransitionGoalRequest req;
    req.set_name(goal.name());
    req.set_lifecycle_status(to);
    req.set_reason("reviewed in session");
    req.set_etag(goal.etag());
    req.set_open_objectives(action);
    req.set_request_id(request_id);
    return stub_->TransitionGoal(ServiceFixture::Context(token_).get(), req, out);
  }

  // Updates the goal `target` names with the masked fields of `patch`, at `etag`.
  grpc::Status Update(const v1::Goal& target, const v1::Goal& patch, const std::string& etag,
                      std::vector<std::string> paths, v1::Goal* out) {
    v1::UpdateGoalRequest req;
    *req.mutable_goal() = patch;
    req.mutable_goal()->set_name(target.name());
    for (auto& p : paths) req.mutable_update_mask()->add_paths(p);
    req.set_etag(etag);
    req.set_reason("client asked to rephrase");
    return stub_->UpdateGoal(ServiceFixture::Context(token_).get(), req, out);
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::GoalService::Stub> stub_;
  std::string token_;
};

TEST_F(GoalServiceTest, CreatedGoalReadsBackWithServerFields) {
  v1::Goal created = MustCreate(SmartGoal());
  EXPECT_TRUE(absl::StartsWith(created.name(), "patients/p1/goals/"));
  EXPECT_EQ(created.lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
  EXPECT_EQ(created.revision(), 1);
  EXPECT_FALSE(created.etag().empty());
  EXPECT_EQ(created.create_time().seconds(), absl::ToUnixSeconds(fixture_.clock().Now()));
  v1::Goal read;
  ASSERT_TRUE(Get(created.name(), &read).ok());
  EXPECT_EQ(read.title(), "Reduce PHQ-9 score from 18 to 9");
  EXPECT_EQ(read.measure().target(), 9);
  EXPECT_EQ(read.etag(), created.etag());
}

TEST_F(GoalServiceTest, CallsWithoutAValidTokenAreUnauthenticated) {
  v1::Goal out;
  v1::CreateGoalRequest req;
  *req.mutable_goal() = SmartGoal();
  grpc::ClientContext none;
  EXPECT_EQ(stub_->CreateGoal(&none, req, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status garbled = Create(SmartGoal(), &out, "", "not.a.jwt");
  EXPECT_EQ(garbled.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ReasonOf(garbled), "TOKEN_INVALID");
  auth::AuthOptions other = fixture_.auth_options();
  other.hs256_secret = std::string(40, 'x');
  auth::Identity who{"t1", "clin-1", v1::ROLE_CLINICIAN, ""};
  grpc::Status forged =
      Create(SmartGoal(), &out, "", auth::MintHs256Token(other, who, absl::Hours(1)));
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GoalServiceTest, InvalidInputNamesTheFieldAndStoresNothing) {
  v1::Goal bad = SmartGoal();
  bad.set_title(std::string(201, 't'));
  bad.mutable_measure()->set_target(std::nan(""));
  v1::Goal out;
  grpc::Status s = Create(bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("goal.title")) << s.error_message();
  EXPECT_EQ(ReasonOf(s), "INVALID_FIELD");
  v1::ListGoalsRequest list;
  list.set_patient("p1");
  v1::ListGoalsResponse resp;
  ASSERT_TRUE(stub_->ListGoals(ServiceFixture::Context(token_).get(), list, &resp).ok());
  EXPECT_EQ(resp.goals_size(), 0);
}

TEST_F(GoalServiceTest, RepeatedRequestIdReturnsTheFirstGoal) {
  v1::Goal first, second, third;
  ASSERT_TRUE(Create(SmartGoal(), &first, "req-1").ok());
  ASSERT_TRUE(Create(SmartGoal(), &second, "req-1").ok());
  EXPECT_EQ(first.name(), second.name());
  v1::Goal different = SmartGoal();
  different.set_title("Walk 20 minutes on five days a week");
  grpc::Status reused = Create(different, &third, "req-1");
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(reused), "REQUEST_ID_REUSED");
  v1::ListGoalsRequest list;
  list.set_patient("p1");
  v1::ListGoalsResponse resp;
  ASSERT_TRUE(stub_->ListGoals(ServiceFixture::Context(token_).get(), list, &resp).ok());
  EXPECT_EQ(resp.goals_size(), 1);
}

TEST_F(GoalServiceTest, OtherTenantsAndOtherPatientsSeeNotFound) {
  v1::Goal created = MustCreate(SmartGoal("p1"));
  v1::Goal out;
  EXPECT_EQ(Get(created.name(), &out, fixture_.Token("t2")).error_code(),
            grpc::StatusCode::NOT_FOUND);
  std::string client_p2 = fixture_.Token("t1", v1::ROLE_CLIENT, "p2");
  EXPECT_EQ(Get(created.name(), &out, client_p2).error_code(), grpc::StatusCode::NOT_FOUND);
  std::string client_p1 = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
  EXPECT_TRUE(Get(created.name(), &out, client_p1).ok());
}

TEST_F(GoalServiceTest, ClientsMayOnlyProposeGoals) {
  std::string client = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
  v1::Goal active = SmartGoal();
  active.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  v1::Goal out;
  EXPECT_EQ(Create(active, &out, "", client).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Create(VagueDraft(), &out, "", client).ok());
  EXPECT_EQ(out.lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
}

TEST_F(GoalServiceTest, UpdateNeedsTheCurrentEtagAndKeepsEveryRevision) {
  v1::Goal created = MustCreate(SmartGoal());
  v1::Goal patch;
  patch.set_title("Reduce PHQ-9 score from 18 to 8");
  v1::Goal updated;
  grpc::Status s = Update(created, patch, created.etag(), {"title"}, &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(updated.revision(), 2);
  EXPECT_NE(updated.etag(), created.etag());
  v1::Goal stale;
  grpc::Status conflict = Update(created, patch, created.etag(), {"title"}, &stale);
  EXPECT_EQ(conflict.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(conflict), "ETAG_MISMATCH");
  grpc::Status bad_mask = Update(created, patch, updated.etag(), {"lifecycle_status"}, &stale);
  EXPECT_EQ(bad_mask.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(bad_mask).count("update_mask"));

  v1::ListGoalRevisionsRequest req;
  req.set_name(created.name());
  v1::ListGoalRevisionsResponse revs;
  ASSERT_TRUE(stub_->ListGoalRevisions(ServiceFixture::Context(token_).get(), req, &revs).ok());
  ASSERT_EQ(revs.revisions_size(), 2);
  EXPECT_EQ(revs.revisions(0).revision(), 2);  // newest first
  EXPECT_EQ(revs.revisions(0).kind(), v1::GOAL_REVISION_KIND_UPDATE);
  ASSERT_EQ(revs.revisions(0).changed_fields_size(), 1);
  EXPECT_EQ(revs.revisions(0).changed_fields(0), "title");
  EXPECT_EQ(revs.revisions(0).reason(), "client asked to rephrase");
  EXPECT_EQ(revs.revisions(0).actor().subject(), "clin-1");
  EXPECT_EQ(revs.revisions(1).kind(), v1::GOAL_REVISION_KIND_CREATE);
  EXPECT_EQ(revs.revisions(1).snapshot().title(), "Reduce PHQ-9 score from 18 to 9");
}

TEST_F(GoalServiceTest, ActivationIsBlockedUntilTheGoalIsSmart) {
  v1::Goal draft = MustCreate(VagueDraft());
  v1::TransitionGoalResponse resp;
  grpc::Status blocked = Transition(draft, v1::GOAL_LIFECYCLE_STATUS_ACTIVE, &resp);
  EXPECT_EQ(blocked.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(blocked), "SMART_CHECK_FAILED");
  bool has_precondition_failure = false;
  google::rpc::Status details = DetailsOf(blocked);
  for (const auto& any : details.details()) {
    google::rpc::PreconditionFailure pf;
    if (any.UnpackTo(&pf)) has_precondition_failure = pf.violations_size() > 0;
  }
  EXPECT_TRUE(has_precondition_failure);

  v1::Goal fixed = SmartGoal();
  v1::Goal updated;
  grpc::Status s =
      Update(draft, fixed, draft.etag(),
             {"title", "description", "measure", "start_date", "due_date", "addresses", "category"},
             &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  grpc::Status activated = Transition(updated, v1::GOAL_LIFECYCLE_STATUS_ACTIVE, &resp);
  ASSERT_TRUE(activated.ok()) << activated.error_message();
  EXPECT_EQ(resp.goal().lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  EXPECT_EQ(resp.goal().status_reason(), "reviewed in session");
}

TEST_F(GoalServiceTest, IllegalTransitionsNameTheAllowedOnes) {
  v1::Goal draft = MustCreate(VagueDraft());
  v1::TransitionGoalResponse resp;
  grpc::Status s = Transition(draft, v1::GOAL_LIFECYCLE_STATUS_COMPLETED, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(s), "ILLEGAL_TRANSITION");
  EXPECT_NE(s.error_message().find("accepted"), std::string::npos) << s.error_message();
}

TEST_F(GoalServiceTest, ObjectivesHangUnderOneGoalOfTheSamePatient) {
  v1::Goal parent = MustCreate(SmartGoal());
  v1::Goal o1 = SmartGoal();
  o1.set_parent(parent.name());
  o1.set_title("Practice box breathing for 10 minutes every evening");
  v1::Goal first = MustCreate(o1);
  o1.set_title("Complete a PHQ-9 every two weeks");
  v1::Goal second = MustCreate(o1);

  v1::Goal read;
  ASSERT_TRUE(Get(parent.name(), &read).ok());
  ASSERT_EQ(read.objectives_size(), 2);
  EXPECT_EQ(std::set<std::string>(read.objectives().begin(), read.objectives().end()),
            (std::set<std::string>{first.name(), second.name()}));

  v1::Goal out;
  v1::Goal deeper = SmartGoal();
  deeper.set_parent(first.name());
  EXPECT_EQ(Create(deeper, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::Goal other_patient = SmartGoal("p2");
  other_patient.set_parent(parent.name());
  grpc::Status cross = Create(other_patient, &out);
  EXPECT_EQ(cross.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(cross).count("goal.parent"));
  v1::Goal orphan = SmartGoal();
  orphan.set_parent("patients/p1/goals/doesnotexist");
  EXPECT_EQ(Create(orphan, &out).error_code(), grpc::StatusCode::NOT_FOUND);

  // Only this goal's objectives when filtering by parent.
  v1::ListGoalsRequest list;
  list.set_patient("p1");
  list.set_parent(parent.name());
  v1::ListGoalsResponse resp;
  ASSERT_TRUE(stub_->ListGoals(ServiceFixture::Context(token_).get(), list, &resp).ok());
  EXPECT_EQ(resp.goals_size(), 2);
}

TEST_F(GoalServiceTest, ClosingAParentRefusesOrCancelsOpenObjectivesAndQueuesReminderStops) {
  v1::Goal parent = MustCreate(SmartGoal());
  v1::Goal o = SmartGoal();
  o.set_parent(parent.name());
  v1::Goal objective = MustCreate(o);

  v1::TransitionGoalResponse resp;
  grpc::Status refused = Transition(parent, v1::GOAL_LIFECYCLE_STATUS_REJECTED, &resp,
                                    v1::OPEN_OBJECTIVES_ACTION_REFUSE);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(refused), "OPEN_OBJECTIVES");

  grpc::Status cancelled = Transition(parent, v1::GOAL_LIFECYCLE_STATUS_REJECTED, &resp,
                                      v1::OPEN_OBJECTIVES_ACTION_CANCEL);
  ASSERT_TRUE(cancelled.ok()) << cancelled.error_message();
  ASSERT_EQ(resp.cancelled_objectives_size(), 1);
  EXPECT_EQ(resp.cancelled_objectives(0).name(), objective.name());
  v1::Goal read;
  ASSERT_TRUE(Get(objective.name(), &read).ok());
  EXPECT_EQ(read.lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_CANCELLED);
  // One reminder stop per closed goal, recorded in the same step (relayed later).
  EXPECT_EQ(*fixture_.RedisCommand({"LLEN", "trellis:goals:{t1:p1}:outbox"}), "2");
}

TEST_F(GoalServiceTest, TransitionRetriedWithItsRequestIdReturnsTheFirstResult) {
  v1::Goal goal = MustCreate(SmartGoal());
  v1::TransitionGoalResponse first, again;
  ASSERT_TRUE(Transition(goal, v1::GOAL_LIFECYCLE_STATUS_ACTIVE, &first,
                         v1::OPEN_OBJECTIVES_ACTION_UNSPECIFIED, "tr-1")
                  .ok());
  grpc::Status s = Transition(goal, v1::GOAL_LIFECYCLE_STATUS_ACTIVE, &again,
                              v1::OPEN_OBJECTIVES_ACTION_UNSPECIFIED, "tr-1");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.goal().etag(), first.goal().etag());
}

TEST_F(GoalServiceTest, AFailedTransitionIsNotRememberedUnderItsRequestId) {
  v1::Goal draft = MustCreate(VagueDraft());
  v1::TransitionGoalResponse resp;
  EXPECT_EQ(Transition(draft, v1::GOAL_LIFECYCLE_STATUS_ACTIVE, &resp,
                       v1::OPEN_OBJECTIVES_ACTION_UNSPECIFIED, "tr-9")
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // The same request id, now for a transition that is allowed, really happens.
  grpc::Status s = Transition(draft, v1::GOAL_LIFECYCLE_STATUS_REJECTED, &resp,
                              v1::OPEN_OBJECTIVES_ACTION_UNSPECIFIED, "tr-9");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.goal().lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_REJECTED);
}

TEST_F(GoalServiceTest, ListPagesThroughEveryGoalExactlyOnce) {
  for (int i = 0; i < 250; ++i) {
    v1::Goal g = SmartGoal();
    g.set_title(absl::StrCat("Walk for ", 10 + i, " minutes on five days a week"));
    if (i % 5 == 0) g.set_category(v1::GOAL_CATEGORY_BEHAVIOURAL_CHANGE);
    MustCreate(g);
    if (i % 3 == 0) fixture_.clock().Advance(absl::Seconds(1));  // ties and distinct times
  }
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListGoalsRequest req;
    req.set_patient("p1");
    req.set_page_size(100);
    req.set_page_token(token);
    v1::ListGoalsResponse resp;
    grpc::Status s = stub_->ListGoals(ServiceFixture::Context(token_).get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const auto& g : resp.goals()) EXPECT_TRUE(seen.insert(g.name()).second) << g.name();
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 250u);
  EXPECT_EQ(pages, 3);

  v1::ListGoalsRequest filtered;
  filtered.set_patient("p1");
  filtered.set_category(v1::GOAL_CATEGORY_BEHAVIOURAL_CHANGE);
  filtered.set_page_size(500);
  v1::ListGoalsResponse resp;
  ASSERT_TRUE(stub_->ListGoals(ServiceFixture::Context(token_).get(), filtered, &resp).ok());
  EXPECT_EQ(resp.goals_size(), 50);

  v1::ListGoalsRequest mismatched;
  mismatched.set_patient("p1");
  mismatched.set_page_size(100);
  v1::ListGoalsResponse first;
  ASSERT_TRUE(stub_->ListGoals(ServiceFixture::Context(token_).get(), mismatched, &first).ok());
  mismatched.set_page_token(first.next_page_token());
  mismatched.set_category(v1::GOAL_CATEGORY_OTHER);
  grpc::Status s = stub_->ListGoals(ServiceFixture::Context(token_).get(), mismatched, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("page_token"));
}

TEST_F(GoalServiceTest, AttainmentScoreFollowsTheKiresukShermanFormula) {
  std::vector<int> ratings = {1, 1, 0};
  for (int r : ratings) {
    v1::Goal g = MustCreate(SmartGoal());
    v1::TransitionGoalResponse active;
    ASSERT_TRUE(Transition(g, v1::GOAL_LIFECYCLE_STATUS_ACTIVE, &active).ok());
    v1::RateGoalAttainmentRequest req;
    req.set_name(g.name());
    req.set_rating(r);
    *req.mutable_review_date() = Date(2026, 1, 5);
    v1::AttainmentRating rating;
    grpc::Status s = stub_->RateGoalAttainment(ServiceFixture::Context(token_).get(), req, &rating);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(rating.rating(), r);
  }
  v1::GetAttainmentScoreRequest req;
  req.set_patient("p1");
  v1::GetAttainmentScoreResponse score;
  ASSERT_TRUE(stub_->GetAttainmentScore(ServiceFixture::Context(token_).get(), req, &score).ok());
  EXPECT_EQ(score.n(), 3);
  ASSERT_TRUE(score.has_t_score());
  EXPECT_NEAR(score.t_score(), 59.1287, 1e-4);

  // Clients may not rate.
  v1::RateGoalAttainmentRequest rate;
  rate.set_name(score.terms(0).goal());
  rate.set_rating(2);
  *rate.mutable_review_date() = Date(2026, 1, 5);
  v1::AttainmentRating out;
  EXPECT_EQ(stub_
                ->RateGoalAttainment(
                    ServiceFixture::Context(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(),
                    rate, &out)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GoalServiceTest, ExportsAFhirBundleOfGoals) {
  v1::Goal parent = MustCreate(SmartGoal());
  v1::Goal o = SmartGoal();
  o.set_parent(parent.name());
  MustCreate(o);
  v1::ExportGoalsFhirRequest req;
  req.set_patient("p1");
  v1::ExportGoalsFhirResponse resp;
  ASSERT_TRUE(stub_->ExportGoalsFhir(ServiceFixture::Context(token_).get(), req, &resp).ok());
  EXPECT_EQ(resp.goal_count(), 2);
  auto bundle = nlohmann::json::parse(resp.bundle_json());
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  ASSERT_EQ(bundle["entry"].size(), 2u);
  EXPECT_EQ(bundle["entry"][0]["resource"]["resourceType"], "Goal");
  EXPECT_EQ(bundle["entry"][0]["resource"]["subject"]["reference"], "Patient/p1");
}

TEST_F(GoalServiceTest, AchievementWriteBackIsOrderedByEvaluationTimeAndIdempotent) {
  v1::Goal goal = MustCreate(SmartGoal());
  std::string service = fixture_.Token("t1", v1::ROLE_SERVICE);
  v1::SetAchievementStatusRequest req;
  req.set_name(goal.name());
  req.set_achievement_status(v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
  req.set_needs_review(true);
  req.set_needs_review_reason("no reliable improvement in 6 weeks");
  req.mutable_evaluate_time()->set_seconds(absl::ToUnixSeconds(fixture_.clock().Now()));
  req.set_request_id("outbox-1");
  v1::SetAchievementStatusResponse first, replay, older;
  ASSERT_TRUE(
      stub_->SetAchievementStatus(ServiceFixture::Context(service).get(), req, &first).ok());
  EXPECT_TRUE(first.applied());
  EXPECT_TRUE(first.goal().needs_review());
  ASSERT_TRUE(
      stub_->SetAchievementStatus(ServiceFixture::Context(service).get(), req, &replay).ok());
  EXPECT_EQ(replay.goal().etag(), first.goal().etag());
  req.set_request_id("outbox-0");
  req.mutable_evaluate_time()->set_seconds(req.evaluate_time().seconds() - 60);
  req.set_achievement_status(v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING);
  ASSERT_TRUE(
      stub_->SetAchievementStatus(ServiceFixture::Context(service).get(), req, &older).ok());
  EXPECT_FALSE(older.applied());
  // A write-back dated in the future would shadow every real one until then: refused.
  req.set_request_id("outbox-future");
  req.mutable_evaluate_time()->set_seconds(absl::ToUnixSeconds(fixture_.clock().Now()) + 86400);
  v1::SetAchievementStatusResponse future;
  grpc::Status refused =
      stub_->SetAchievementStatus(ServiceFixture::Context(service).get(), req, &future);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "evaluate_time"))
      << refused.error_message();
  v1::Goal read;
  ASSERT_TRUE(Get(goal.name(), &read).ok());
  EXPECT_EQ(read.achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
}

TEST_F(GoalServiceTest, SharedCacheHoldsTheLatestAcknowledgedGoal) {
  v1::Goal created = MustCreate(SmartGoal());
  std::string id = created.name().substr(created.name().rfind('/') + 1);
  std::string key = absl::StrCat("trellis:cache:{t1:p1}:goal:", id);
  v1::Goal cached;
  ASSERT_TRUE(cached.ParseFromString(*fixture_.RedisCommand({"GET", key})));
  EXPECT_EQ(cached.revision(), 1);
  v1::Goal patch;
  patch.set_title("Reduce PHQ-9 score from 18 to 7");
  v1::Goal updated;
  ASSERT_TRUE(Update(created, patch, created.etag(), {"title"}, &updated).ok());
  ASSERT_TRUE(cached.ParseFromString(*fixture_.RedisCommand({"GET", key})));
  EXPECT_EQ(cached.revision(), 2);
  EXPECT_EQ(cached.title(), "Reduce PHQ-9 score from 18 to 7");
}

TEST_F(GoalServiceTest, RedisOutageIsUnavailableAndRecovers) {
  if (fixture_.clustered()) GTEST_SKIP() << "stops the one redis-server; the cluster suite has its own";
  v1::Goal created = MustCreate(SmartGoal());
  fixture_.redis_server().Stop(/*hard=*/true);
  v1::Goal out;
  grpc::Status down = Get(created.name(), &out);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(down), "STORE_UNAVAILABLE");
  ASSERT_TRUE(fixture_.redis_server().Restart().ok());
  grpc::Status up;
  for (int i = 0; i < 100; ++i) {
    up = Get(created.name(), &out);
    if (up.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(up.ok()) << up.error_message();  // AOF kept the acknowledged goal
}

TEST_F(GoalServiceTest, EvaluateSmartReturnsAFindingPerLetterWithoutStoring) {
  v1::EvaluateSmartRequest req;
  *req.mutable_goal() = VagueDraft();
  v1::EvaluateSmartResponse resp;
  ASSERT_TRUE(stub_->EvaluateSmart(ServiceFixture::Context(token_).get(), req, &resp).ok());
  EXPECT_FALSE(resp.passes());
  std::set<int> letters;
  bool suggested_rewrite = false;
  for (const auto& f : resp.findings()) {
    letters.insert(f.letter());
    if (f.letter() == v1::SMART_LETTER_SPECIFIC &&
        f.suggestion().find("breathing exercises for 15 minutes daily") != std::string::npos) {
      suggested_rewrite = true;
    }
  }
  EXPECT_EQ(letters.size(), 5u);
  EXPECT_TRUE(suggested_rewrite);
  *req.mutable_goal() = SmartGoal();
  ASSERT_TRUE(stub_->EvaluateSmart(ServiceFixture::Context(token_).get(), req, &resp).ok());
  EXPECT_TRUE(resp.passes());
}

}  // namespace
}  // namespace trellis::goals
