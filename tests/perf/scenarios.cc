#include "tests/perf/scenarios.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "baseline.grpc.pb.h"
#include "tests/support/measurement_requests.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::perf {
namespace {

namespace v1 = ::trellis::v1;

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t nanos = absl::ToUnixNanos(t);
  ts.set_seconds(nanos / 1000000000);
  ts.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return ts;
}

v1::LocalDate DayOf(absl::Time t) {
  absl::CivilDay d = absl::ToCivilDay(t, absl::UTCTimeZone());
  return testing::Date(static_cast<int>(d.year()), d.month(), d.day());
}

// One call's context, request and response, freed when the call completes.
template <typename Req, typename Resp>
struct UnaryCall {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// The shared part of every scenario: stubs per channel, the call's metadata and deadline.
template <typename Service>
class ScenarioBase : public Scenario {
 protected:
  explicit ScenarioBase(const ScenarioEnv& env) : env_(env) {
    for (const auto& ch : env.channels) stubs_.push_back(Service::NewStub(ch));
  }

  typename Service::Stub* StubFor(uint64_t seq) { return stubs_[seq % stubs_.size()].get(); }

  template <typename Req, typename Resp>
  std::unique_ptr<UnaryCall<Req, Resp>> NewCall(const std::string& token) const {
    auto call = std::make_unique<UnaryCall<Req, Resp>>();
    Prepare(call->ctx, token);
    return call;
  }

  void Prepare(grpc::ClientContext& ctx, const std::string& token) const {
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + env_.deadline));
  }

  // Starts `call` through `method` (a lambda calling stub->async()->Method) and frees it after
  // `done` has run.
  template <typename Req, typename Resp, typename Method>
  static void Launch(std::unique_ptr<UnaryCall<Req, Resp>> call, Method method, CallDone done) {
    UnaryCall<Req, Resp>* c = call.release();
    method(&c->ctx, &c->req, &c->resp, [c, done = std::move(done)](grpc::Status s) {
      done(s);
      delete c;
    });
  }

  std::string Patient(uint64_t i) const { return absl::StrCat(env_.run_id, "-p", i); }
  std::string RequestId(uint64_t seq) const { return absl::StrCat(env_.run_id, "-r", seq); }

  absl::Status Failed(const std::string& what, const grpc::Status& s) const {
    return absl::InternalError(absl::StrCat(what, ": ", s.error_code(), " ", s.error_message()));
  }

  ScenarioEnv env_;
  std::vector<std::unique_ptr<typename Service::Stub>> stubs_;
};

class BaselineScenario final : public ScenarioBase<baseline::BaselineService> {
 public:
  explicit BaselineScenario(const ScenarioEnv& env)
      : ScenarioBase(env), token_(env.Token(v1::ROLE_CLINICIAN)) {}

  void Start(uint64_t seq, CallDone done) override {
    auto call = NewCall<google::protobuf::Empty, google::protobuf::Empty>(token_);
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->Empty(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }

 private:
  std::string token_;
};

// An ACTIVE PHQ-9 goal (18 -> 9) for `patient`, started on `start`, due 12 weeks from today.
v1::Goal Phq9GoalFrom(const std::string& patient, absl::Time start) {
  v1::Goal g = testing::Phq9Goal(patient);
  *g.mutable_start_date() = DayOf(start);
  *g.mutable_due_date() = DayOf(absl::Now() + absl::Hours(24 * 84));
  return g;
}

class CreateGoalScenario final : public ScenarioBase<v1::GoalService> {
 public:
  explicit CreateGoalScenario(const ScenarioEnv& env)
      : ScenarioBase(env), token_(env.Token(v1::ROLE_CLINICIAN)) {}

  void Start(uint64_t seq, CallDone done) override {
    auto call = NewCall<v1::CreateGoalRequest, v1::Goal>(token_);
    *call->req.mutable_goal() = Phq9GoalFrom(Patient(seq % env_.patients), absl::Now());
    call->req.set_request_id(RequestId(seq));
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->CreateGoal(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }

 private:
  std::string token_;
};

class GetGoalScenario final : public ScenarioBase<v1::GoalService> {
 public:
  explicit GetGoalScenario(const ScenarioEnv& env)
      : ScenarioBase(env), token_(env.Token(v1::ROLE_CLINICIAN)) {}

  // One goal for each of up to 1 000 patients.
  absl::Status Setup() override {
    int n = std::min(env_.patients, 1000);
    for (int i = 0; i < n; ++i) {
      grpc::ClientContext ctx;
      Prepare(ctx, token_);
      v1::CreateGoalRequest req;
      *req.mutable_goal() = Phq9GoalFrom(Patient(i), absl::Now());
      v1::Goal goal;
      grpc::Status s = stubs_[0]->CreateGoal(&ctx, req, &goal);
      if (!s.ok()) return Failed("CreateGoal", s);
      goals_.push_back(goal.name());
    }
    return absl::OkStatus();
  }

  void Start(uint64_t seq, CallDone done) override {
    auto call = NewCall<v1::GetGoalRequest, v1::Goal>(token_);
    call->req.set_name(goals_[seq % goals_.size()]);
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->GetGoal(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }

 private:
  std::string token_;
  std::vector<std::string> goals_;
};

// What a client's app sends: its own patient's token (one per patient), values of now.
class ClientWriteBase : public ScenarioBase<v1::MeasurementService> {
 public:
  explicit ClientWriteBase(const ScenarioEnv& env) : ScenarioBase(env) {
    for (int i = 0; i < env.patients; ++i) {
      client_tokens_.push_back(env.Token(v1::ROLE_CLIENT, Patient(i)));
    }
  }

 protected:
  std::vector<std::string> client_tokens_;
};

class RecordMeasurementScenario final : public ClientWriteBase {
 public:
  using ClientWriteBase::ClientWriteBase;

  void Start(uint64_t seq, CallDone done) override {
    const uint64_t p = seq % env_.patients;
    auto call = NewCall<v1::RecordMeasurementRequest, v1::Measurement>(client_tokens_[p]);
    v1::Measurement* m = call->req.mutable_measurement();
    m->set_patient(Patient(p));
    m->set_metric("mood");
    m->set_value(static_cast<double>(seq % 11));
    *m->mutable_observe_time() = ToTimestamp(absl::Now());
    m->set_source(v1::MEASUREMENT_SOURCE_CLIENT);
    m->set_note("Slept about six hours; did the breathing exercise after lunch.");
    call->req.set_request_id(RequestId(seq));
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->RecordMeasurement(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }
};

class SubmitQuestionnaireScenario final : public ClientWriteBase {
 public:
  using ClientWriteBase::ClientWriteBase;

  void Start(uint64_t seq, CallDone done) override {
    const uint64_t p = seq % env_.patients;
    auto call =
        NewCall<v1::SubmitQuestionnaireRequest, v1::SubmitQuestionnaireResponse>(client_tokens_[p]);
    call->req = testing::Phq9(Patient(p), static_cast<int>(5 + seq % 15), 0, RequestId(seq));
    *call->req.mutable_observe_time() = ToTimestamp(absl::Now());
    call->req.set_source(v1::MEASUREMENT_SOURCE_CLIENT);
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->SubmitQuestionnaire(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }
};

constexpr int kMaxBatchItems = 10000;
constexpr absl::Duration kSpacing = absl::Hours(2);

// A patient with a PHQ-9 series of `points` values (20 trending down to 8, with noise), one
// every two hours up to now, uploaded with BatchRecordMeasurements.
class SeriesScenarioBase : public ScenarioBase<v1::MeasurementService> {
 protected:
  SeriesScenarioBase(const ScenarioEnv& env, int points)
      : ScenarioBase(env),
        points_(points),
        token_(env.Token(v1::ROLE_CLINICIAN)),
        patient_(absl::StrCat(env.run_id, "-series", points)),
        first_(absl::Now() - points * kSpacing) {}

  absl::Status SeedSeries() {
    const absl::Time now = first_ + points_ * kSpacing;
    for (int first = 0; first < points_; first += kMaxBatchItems) {
      grpc::ClientContext ctx;
      Prepare(ctx, token_);
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
      v1::BatchRecordMeasurementsResponse response;
      auto writer = stubs_[0]->BatchRecordMeasurements(&ctx, &response);
      const int last = std::min(points_, first + kMaxBatchItems);
      for (int i = first; i < last; ++i) {
        int total = 20 - (12 * i) / points_ + (i * 7) % 5 - 2;
        v1::BatchRecordMeasurementsRequest item;
        item.set_client_index(i);
        *item.mutable_questionnaire() = testing::Phq9(patient_, total);
        item.mutable_questionnaire()->set_request_id(absl::StrCat(patient_, "-seed", i));
        *item.mutable_questionnaire()->mutable_observe_time() =
            ToTimestamp(now - (points_ - i) * kSpacing);
        if (!writer->Write(item)) break;
      }
      writer->WritesDone();
      grpc::Status s = writer->Finish();
      if (!s.ok()) return Failed("BatchRecordMeasurements", s);
      if (response.accepted_count() != last - first) {
        return absl::InternalError(absl::StrCat("BatchRecordMeasurements stored ",
                                                response.accepted_count(), " of ", last - first));
      }
    }
    return absl::OkStatus();
  }

  const int points_;
  const std::string token_;
  const std::string patient_;
  const absl::Time first_;
};

class GetGoalProgressScenario final : public SeriesScenarioBase {
 public:
  explicit GetGoalProgressScenario(const ScenarioEnv& env) : SeriesScenarioBase(env, env.points) {}

  // The series, then its goal (started the day before the first point, on the GoalService the
  // MeasurementService reads targets from), then a few calls: the first enqueues the
  // achievement write-back, delivered by the outbox relay before the timed run.
  absl::Status Setup() override {
    if (absl::Status s = SeedSeries(); !s.ok()) return s;
    if (env_.goals_channel == nullptr) {
      return absl::FailedPreconditionError("GetGoalProgress needs --goals_target");
    }
    auto goals = v1::GoalService::NewStub(env_.goals_channel);
    grpc::ClientContext ctx;
    Prepare(ctx, token_);
    v1::CreateGoalRequest req;
    *req.mutable_goal() = Phq9GoalFrom(patient_, first_ - absl::Hours(24));
    v1::Goal goal;
    grpc::Status s = goals->CreateGoal(&ctx, req, &goal);
    if (!s.ok()) return Failed("CreateGoal", s);
    goal_ = goal.name();
    for (int i = 0; i < 3; ++i) {
      grpc::ClientContext c;
      Prepare(c, token_);
      v1::GetGoalProgressRequest preq;
      preq.set_goal(goal_);
      v1::GoalProgress progress;
      grpc::Status ps = stubs_[0]->GetGoalProgress(&c, preq, &progress);
      if (!ps.ok()) return Failed("GetGoalProgress", ps);
      absl::SleepFor(absl::Milliseconds(300));
    }
    return absl::OkStatus();
  }

  void Start(uint64_t seq, CallDone done) override {
    auto call = NewCall<v1::GetGoalProgressRequest, v1::GoalProgress>(token_);
    call->req.set_goal(goal_);
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->GetGoalProgress(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }

 private:
  std::string goal_;
};

class ListMeasurementsScenario final : public SeriesScenarioBase {
 public:
  explicit ListMeasurementsScenario(const ScenarioEnv& env) : SeriesScenarioBase(env, 1000) {}

  absl::Status Setup() override { return SeedSeries(); }

  void Start(uint64_t seq, CallDone done) override {
    auto call = NewCall<v1::ListMeasurementsRequest, v1::ListMeasurementsResponse>(token_);
    call->req.set_patient(patient_);
    call->req.set_metric("phq9");
    call->req.set_page_size(100);
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->ListMeasurements(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }
};

class CreateReminderScenario final : public ScenarioBase<v1::ReminderService> {
 public:
  explicit CreateReminderScenario(const ScenarioEnv& env)
      : ScenarioBase(env), token_(env.Token(v1::ROLE_CLINICIAN)) {
    absl::CivilDay tomorrow = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()) + 1;
    v1::Reminder& r = template_;
    r.set_kind(v1::REMINDER_KIND_PRACTICE);
    r.set_text("Breathing practice: 10 minutes, then rate your mood in the app");
    r.set_channel(v1::REMINDER_CHANNEL_PUSH);
    auto* s = r.mutable_schedule();
    s->mutable_start()->set_year(static_cast<int>(tomorrow.year()));
    s->mutable_start()->set_month(tomorrow.month());
    s->mutable_start()->set_day(tomorrow.day());
    s->mutable_start()->set_hours(20);
    s->set_time_zone("Europe/London");
    s->set_rrule("FREQ=DAILY");
  }

  void Start(uint64_t seq, CallDone done) override {
    auto call = NewCall<v1::CreateReminderRequest, v1::Reminder>(token_);
    *call->req.mutable_reminder() = template_;
    call->req.mutable_reminder()->set_patient(Patient(seq % env_.patients));
    call->req.set_request_id(RequestId(seq));
    auto* stub = StubFor(seq);
    Launch(
        std::move(call),
        [stub](auto* ctx, auto* req, auto* resp, auto cb) {
          stub->async()->CreateReminder(ctx, req, resp, std::move(cb));
        },
        std::move(done));
  }

 private:
  std::string token_;
  v1::Reminder template_;
};

}  // namespace

std::string ScenarioEnv::Token(v1::Role role, const std::string& patient) const {
  auth::Identity who;
  who.tenant = tenant;
  who.role = role;
  who.patient = patient;
  who.subject = role == v1::ROLE_CLIENT ? absl::StrCat("user-", patient) : "bench-clinician";
  if (role == v1::ROLE_SERVICE) who.subject = "bench-platform";
  return auth::MintHs256Token(auth, who, absl::Hours(2));
}

std::vector<std::string> ScenarioNames() {
  return {"Baseline",          "CreateGoal",          "GetGoal",
          "RecordMeasurement", "SubmitQuestionnaire", "GetGoalProgress",
          "ListMeasurements",  "CreateReminder"};
}

absl::StatusOr<std::unique_ptr<Scenario>> MakeScenario(const std::string& name,
                                                       const ScenarioEnv& env) {
  if (name == "Baseline") return std::make_unique<BaselineScenario>(env);
  if (name == "CreateGoal") return std::make_unique<CreateGoalScenario>(env);
  if (name == "GetGoal") return std::make_unique<GetGoalScenario>(env);
  if (name == "RecordMeasurement") return std::make_unique<RecordMeasurementScenario>(env);
  if (name == "SubmitQuestionnaire") return std::make_unique<SubmitQuestionnaireScenario>(env);
  if (name == "GetGoalProgress") return std::make_unique<GetGoalProgressScenario>(env);
  if (name == "ListMeasurements") return std::make_unique<ListMeasurementsScenario>(env);
  if (name == "CreateReminder") return std::make_unique<CreateReminderScenario>(env);
  return absl::InvalidArgumentError(absl::StrCat("unknown scenario ", name, "; one of ",
                                                 absl::StrJoin(ScenarioNames(), ", "),
                                                 ", ReminderDispatch"));
}

}  // namespace trellis::perf
