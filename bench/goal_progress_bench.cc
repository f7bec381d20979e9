// Benchmark: GetGoalProgress of a PHQ-9 goal whose series holds 10 000 points (issue 4: "it must
// stay fast with 10 000 points in a series"), next to the same call over a 10-point series.
//
// Setup is the integration tests' harness (tests/support/service_fixture.h): a private
// redis-server on a free port in a temp dir, the real asynchronous Redis layer, MeasurementService
// and GoalService in-process on port 0, called through a real gRPC channel with bearer tokens.
// The series is uploaded with BatchRecordMeasurements; the achievement write-back the first call
// enqueues is delivered (as the relay would) before timing, so the timed calls are the steady
// state: goal from the shared cache, one bounded window read.
//
// Prints plain lines (p50/p95/p99/mean latency in ms, calls/s with one call in flight). Nothing
// timed is asserted (DESIGN.md §9); the exit code only says whether the setup worked.
//
//   make bench                                      (builds and runs every benchmark)
//   build/bench/trellis_bench_goal_progress --calls=500

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log/log.h"
#include "common/outbox/relay.h"
#include "services/goals/goal_service.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/measurement_service.h"
#include "tests/support/measurement_requests.h"
#include "tests/support/service_fixture.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"

ABSL_FLAG(int, calls, 200, "Timed GetGoalProgress calls per series (after the warm-up).");
ABSL_FLAG(int, warmup, 20, "Untimed calls before timing.");
ABSL_FLAG(int, points, 10000, "Points in the long series (uploaded in batches of 10 000).");

namespace trellis::bench {
namespace {

namespace v1 = ::trellis::v1;
using measurements::ToProtoTimestamp;

constexpr int kMaxBatchItems = 10000;
constexpr absl::Duration kSpacing = absl::Hours(2);

class ProgressBench {
 public:
  bool Start() {
    if (fixture_.env().redis == nullptr) return Fail("redis-server did not start");
    fixture_.Start([this](const server::ServiceEnv& env) {
      server::ServiceParts parts = goals::BuildGoalService(env);
      measurements::MeasurementServiceOptions options;
      options.goals_channel = [this] { return fixture_.channel(); };
      server::ServiceParts meas =
          measurements::BuildMeasurementServiceWithOptions(env, std::move(options));
      for (auto& s : meas.services) parts.services.push_back(std::move(s));
      for (auto& n : meas.health_names) parts.health_names.push_back(n);
      return parts;
    });
    if (fixture_.channel() == nullptr) return Fail("the services did not start");
    meas_ = v1::MeasurementService::NewStub(fixture_.channel());
    goals_ = v1::GoalService::NewStub(fixture_.channel());
    token_ = fixture_.Token();
    return true;
  }

  // Uploads `points` PHQ-9 totals trending from 20 down to 8 (with +-2 of noise), one every two
  // hours up to now, in streams of at most 10 000 items.
  bool Seed(const std::string& patient, int points) {
    absl::Time now = fixture_.clock().Now();
    for (int first = 0; first < points; first += kMaxBatchItems) {
      auto ctx = testing::ServiceFixture::Context(token_);
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(10)));
      v1::BatchRecordMeasurementsResponse response;
      auto writer = meas_->BatchRecordMeasurements(ctx.get(), &response);
      int last = std::min(points, first + kMaxBatchItems);
      for (int i = first; i < last; ++i) {
        int total = 20 - (12 * i) / points + (i * 7) % 5 - 2;
        v1::BatchRecordMeasurementsRequest item;
        item.set_client_index(i);
        *item.mutable_questionnaire() = testing::Phq9(patient, total);
        item.mutable_questionnaire()->set_request_id(absl::StrCat("seed-", patient, "-", i));
        *item.mutable_questionnaire()->mutable_observe_time() =
            ToProtoTimestamp(now - (points - i) * kSpacing);
        if (!writer->Write(item)) break;
      }
      writer->WritesDone();
      grpc::Status s = writer->Finish();
      if (!s.ok()) return Fail(absl::StrCat("batch upload: ", s.error_message()));
      if (response.accepted_count() != last - first) {
        return Fail(
            absl::StrCat("batch upload stored ", response.accepted_count(), " of ", last - first));
      }
    }
    return true;
  }

  // The fixture's PHQ-9 goal (18 -> 9), started the day before `first`.
  bool CreateGoal(const std::string& patient, absl::Time first, std::string* name) {
    v1::CreateGoalRequest req;
    *req.mutable_goal() = testing::Phq9Goal(patient);
    absl::CivilDay day = absl::ToCivilDay(first - absl::Hours(24), absl::UTCTimeZone());
    *req.mutable_goal()->mutable_start_date() =
        testing::Date(static_cast<int>(day.year()), day.month(), day.day());
    v1::Goal created;
    grpc::Status s =
        goals_->CreateGoal(testing::ServiceFixture::Context(token_).get(), req, &created);
    if (!s.ok()) return Fail(absl::StrCat("CreateGoal: ", s.error_message()));
    *name = created.name();
    return true;
  }

  grpc::Status Progress(const std::string& goal, v1::GoalProgress* out) {
    v1::GetGoalProgressRequest req;
    req.set_goal(goal);
    return meas_->GetGoalProgress(testing::ServiceFixture::Context(token_).get(), req, out);
  }

  // Warm-up calls; the write-back the first one enqueues is delivered, so the goal's achievement
  // status matches the suggestion and the timed calls enqueue nothing (the steady state).
  bool WarmUp(const std::string& goal, int calls, v1::GoalProgress* last) {
    for (int i = 0; i < calls; ++i) {
      grpc::Status s = Progress(goal, last);
      if (!s.ok()) return Fail(absl::StrCat("GetGoalProgress: ", s.error_message()));
      if (i == 0) delivered_ = DeliverWriteBacks();
    }
    return true;
  }

  // Times `calls` sequential calls and prints the figures.
  bool Time(const std::string& label, const std::string& goal, int calls) {
    std::vector<absl::Duration> samples;
    samples.reserve(calls);
    v1::GoalProgress progress;
    absl::Time began = absl::Now();
    for (int i = 0; i < calls; ++i) {
      absl::Time t0 = absl::Now();
      grpc::Status s = Progress(goal, &progress);
      samples.push_back(absl::Now() - t0);
      if (!s.ok()) return Fail(absl::StrCat("GetGoalProgress: ", s.error_message()));
    }
    absl::Duration wall = absl::Now() - began;
    std::sort(samples.begin(), samples.end());
    // Nearest-rank percentiles.
    auto percentile = [&](double p) {
      size_t rank = static_cast<size_t>(std::ceil(p * samples.size()));
      return samples[std::max<size_t>(rank, 1) - 1];
    };
    absl::Duration sum;
    for (absl::Duration d : samples) sum += d;
    std::printf("%s\n", label.c_str());
    std::printf("  points_used %d, trend_points %d, suggested status %s\n", progress.points_used(),
                progress.trend_points(),
                v1::GoalAchievementStatus_Name(progress.suggested_achievement_status()).c_str());
    std::printf("  write-backs delivered in the warm-up: %d\n", delivered_);
    std::printf("  calls       %d (sequential, one in flight)\n", calls);
    std::printf("  p50_ms      %.3f\n", absl::ToDoubleMilliseconds(percentile(0.50)));
    std::printf("  p95_ms      %.3f\n", absl::ToDoubleMilliseconds(percentile(0.95)));
    std::printf("  p99_ms      %.3f\n", absl::ToDoubleMilliseconds(percentile(0.99)));
    std::printf("  mean_ms     %.3f\n", absl::ToDoubleMilliseconds(sum / calls));
    std::printf("  calls_per_s %.0f\n", calls / absl::ToDoubleSeconds(wall));
    return true;
  }

  absl::Time now() { return fixture_.clock().Now(); }

 private:
  int DeliverWriteBacks() {
    outbox::RelayOptions options;
    options.service = "meas";
    outbox::OutboxRelay relay(
        &fixture_.pool(), &fixture_.clock(), options, [this](const outbox::Delivery& d) {
          return measurements::DeliverWriteBack(fixture_.channel(), fixture_.auth_options(), d);
        });
    return relay.RunOnce();
  }

  bool Fail(const std::string& why) {
    std::fprintf(stderr, "goal_progress bench: %s\n", why.c_str());
    return false;
  }

  testing::ServiceFixture fixture_;  // its clock starts at 2026-01-05 09:00 UTC
  std::unique_ptr<v1::MeasurementService::Stub> meas_;
  std::unique_ptr<v1::GoalService::Stub> goals_;
  std::string token_;
  int delivered_ = 0;
};

int Run() {
  const int calls = std::max(1, absl::GetFlag(FLAGS_calls));
  const int warmup = std::max(1, absl::GetFlag(FLAGS_warmup));
  const int points = std::max(2, absl::GetFlag(FLAGS_points));
  // Ten thousand uploads log one line each at info; the figures are the output here.
  log::Configure("bench", log::Level::kWarn);
  ProgressBench bench;
  if (!bench.Start()) return 1;
  struct Case {
    std::string patient;
    int points;
  };
  const Case cases[] = {{"p-long", points}, {"p-short", 10}};
  for (const Case& c : cases) {
    absl::Time first = bench.now() - c.points * kSpacing;
    std::string goal;
    v1::GoalProgress progress;
    if (!bench.Seed(c.patient, c.points) || !bench.CreateGoal(c.patient, first, &goal) ||
        !bench.WarmUp(goal, warmup, &progress) ||
        !bench.Time(absl::StrCat("GetGoalProgress, ", c.points, "-point PHQ-9 series"), goal,
                    calls)) {
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace trellis::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return trellis::bench::Run();
}
