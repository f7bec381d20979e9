// The Trellis load generator (tests/perf, issue 9): one scenario (scenarios.h, or
// ReminderDispatch, reminder_dispatch.h) against one running server, closed or open loop, with a
// warm-up; prints a readable summary and writes the figures as JSON. The bench runner
// (tests/perf/run_bench.py, `make bench`) starts the servers and runs every scenario with the same
// settings.
//
//   trellis-loadgen --scenario=GetGoal --target=127.0.0.1:50051
//       --auth_hs256_secret_file=secret --concurrency=64 --channels=4 --duration=10s
//   trellis-loadgen --scenario=Baseline --target=127.0.0.1:40000 --mode=open --rate=5000
//
// Exit status: 0 when the run happened (errors are counted in the output, not fatal), 1 when the
// setup failed, 2 on bad flags.

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log/log.h"
#include "tests/perf/load_driver.h"
#include "tests/perf/reminder_dispatch.h"
#include "tests/perf/scenarios.h"

ABSL_FLAG(std::string, scenario, "", "Scenario name (--list to see them).");
ABSL_FLAG(bool, list, false, "Print the scenario names and exit.");
ABSL_FLAG(std::string, target, "", "host:port of the server the scenario calls.");
ABSL_FLAG(std::string, goals_target, "",
          "host:port of the GoalService (GetGoalProgress creates its goal there).");
ABSL_FLAG(std::string, auth_hs256_secret_file, "",
          "The services' HS256 secret: bearer tokens are minted with it.");
ABSL_FLAG(std::string, mode, "closed", "closed (fixed concurrency) or open (fixed arrival rate).");
ABSL_FLAG(int, concurrency, 64, "Closed loop: calls in flight.");
ABSL_FLAG(double, rate, 1000, "Open loop: calls started per second.");
ABSL_FLAG(int, max_in_flight, 20000, "Open loop: most calls in flight before starts wait.");
ABSL_FLAG(int, channels, 4, "gRPC channels (one HTTP/2 connection each) the calls spread over.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "Calls made before measuring.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "Measured time.");
ABSL_FLAG(int64_t, calls, 0, "> 0: make exactly this many calls instead (no warm-up).");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(5), "Deadline of each call.");
ABSL_FLAG(std::string, tenant, "bench", "Tenant of the tokens.");
ABSL_FLAG(std::string, run_id, "", "Prefix of patients and request ids (default: from the clock).");
ABSL_FLAG(int, patients, 1000, "Distinct patients the calls spread over.");
ABSL_FLAG(int, points, 1000, "GetGoalProgress: points in the series.");
ABSL_FLAG(int, reminders, 1000, "ReminderDispatch: occurrences due at one instant.");
ABSL_FLAG(int, streams, 4, "ReminderDispatch: subscriber streams.");
ABSL_FLAG(absl::Duration, dispatch_lead, absl::ZeroDuration(),
          "ReminderDispatch: time from the start of seeding to the due instant (0: calibrated).");
ABSL_FLAG(absl::Duration, dispatch_timeout, absl::Seconds(120),
          "ReminderDispatch: longest wait for every delivery after the due instant.");
ABSL_FLAG(std::string, redis_url, "",
          "ReminderDispatch: the reminder service's Redis; reminders are then seeded through the "
          "reminder store instead of CreateReminder calls.");
ABSL_FLAG(std::string, label, "", "Name in the output (default: the scenario).");
ABSL_FLAG(std::string, json_out, "", "Also write the figures as JSON to this file.");

namespace trellis::perf {
namespace {

using nlohmann::json;

std::vector<std::shared_ptr<grpc::Channel>> Connect(const std::string& target, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // Each channel its own connection: no subchannel sharing between them.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("trellis.perf.channel", i);
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    auto ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    ch->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    channels.push_back(std::move(ch));
  }
  return channels;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

double Ms(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

void Emit(const json& j) {
  const std::string path = absl::GetFlag(FLAGS_json_out);
  if (path.empty()) return;
  std::ofstream out(path);
  out << j.dump(2) << "\n";
}

int RunDispatch(const ScenarioEnv& env, const std::string& label) {
  DispatchOptions o;
  o.reminders = absl::GetFlag(FLAGS_reminders);
  o.streams = absl::GetFlag(FLAGS_streams);
  o.create_concurrency = absl::GetFlag(FLAGS_concurrency);
  o.lead = absl::GetFlag(FLAGS_dispatch_lead);
  o.timeout = absl::GetFlag(FLAGS_dispatch_timeout);
  o.redis_url = absl::GetFlag(FLAGS_redis_url);
  absl::StatusOr<DispatchResult> r = RunReminderDispatch(env, o);
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", label.c_str(), r.status().ToString().c_str());
    Emit(json{{"scenario", label}, {"ok", false}, {"error", r.status().ToString()}});
    return 1;
  }
  std::printf(
      "%s: %d reminders seeded (through %s) in %.1f s (%.0f/s), due %.1f s after seeding began\n"
      "  all received %.2f s and all acknowledged %.2f s after the due instant%s\n"
      "  received %d; lost %d; received twice %d; received after ack %d; ack errors %d\n",
      label.c_str(), r->reminders, r->seeded_through.c_str(), r->seed_seconds, r->seed_rate,
      r->lead_seconds, r->all_received_seconds, r->all_acked_seconds,
      r->finished ? "" : " (TIMED OUT)", r->received, r->lost, r->received_twice,
      r->received_after_ack, r->ack_errors);
  json errors = json::object();
  for (const auto& [code, n] : r->seed_errors) errors[code] = n;
  Emit(json{{"scenario", label},
            {"kind", "dispatch"},
            {"ok", r->ok()},
            {"reminders", r->reminders},
            {"streams", o.streams},
            {"seeded_through", r->seeded_through},
            {"seed_seconds", r->seed_seconds},
            {"seed_rate", r->seed_rate},
            {"lead_seconds", r->lead_seconds},
            {"all_received_seconds", r->all_received_seconds},
            {"all_acked_seconds", r->all_acked_seconds},
            {"deliveries_per_second",
             r->all_acked_seconds > 0 ? r->reminders / r->all_acked_seconds : 0.0},
            {"finished", r->finished},
            {"received", r->received},
            {"lost", r->lost},
            {"received_twice", r->received_twice},
            {"received_after_ack", r->received_after_ack},
            {"ack_errors", r->ack_errors},
            {"already_acked", r->already_acked},
            {"errors", errors}});
  return 0;
}

int Run() {
  if (absl::GetFlag(FLAGS_list)) {
    for (const auto& n : ScenarioNames()) std::printf("%s\n", n.c_str());
    std::printf("ReminderDispatch\n");
    return 0;
  }
  const std::string name = absl::GetFlag(FLAGS_scenario);
  const std::string label = absl::GetFlag(FLAGS_label).empty() ? name : absl::GetFlag(FLAGS_label);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (name.empty() || absl::GetFlag(FLAGS_target).empty() || (mode != "closed" && mode != "open")) {
    std::fprintf(stderr, "need --scenario, --target and --mode=closed|open\n");
    return 2;
  }
  ScenarioEnv env;
  env.tenant = absl::GetFlag(FLAGS_tenant);
  env.run_id = absl::GetFlag(FLAGS_run_id);
  if (env.run_id.empty()) env.run_id = absl::StrCat("b", absl::ToUnixMillis(absl::Now()));
  env.patients = std::max(1, absl::GetFlag(FLAGS_patients));
  env.points = absl::GetFlag(FLAGS_points);
  env.deadline = absl::GetFlag(FLAGS_deadline);
  if (!absl::GetFlag(FLAGS_auth_hs256_secret_file).empty()) {
    auto secret = ReadFile(absl::GetFlag(FLAGS_auth_hs256_secret_file));
    if (!secret.ok()) {
      std::fprintf(stderr, "%s\n", secret.status().ToString().c_str());
      return 2;
    }
    env.auth.hs256_secret = *secret;
  } else if (name != "Baseline") {
    std::fprintf(stderr, "%s needs --auth_hs256_secret_file\n", name.c_str());
    return 2;
  }
  const int n_channels = std::max(1, absl::GetFlag(FLAGS_channels));
  env.channels = Connect(absl::GetFlag(FLAGS_target), n_channels);
  if (!absl::GetFlag(FLAGS_goals_target).empty()) {
    env.goals_channel = Connect(absl::GetFlag(FLAGS_goals_target), 1)[0];
  }
  if (name == "ReminderDispatch") return RunDispatch(env, label);

  auto scenario = MakeScenario(name, env);
  if (!scenario.ok()) {
    std::fprintf(stderr, "%s\n", scenario.status().ToString().c_str());
    return 2;
  }
  const absl::Time setup_start = absl::Now();
  if (absl::Status s = (*scenario)->Setup(); !s.ok()) {
    std::fprintf(stderr, "%s setup: %s\n", label.c_str(), s.ToString().c_str());
    Emit(json{{"scenario", label}, {"ok", false}, {"error", s.ToString()}});
    return 1;
  }
  const double setup_seconds = absl::ToDoubleSeconds(absl::Now() - setup_start);
  // The bench runner starts counting the servers' CPU time at this line.
  std::printf("setup done\n");
  std::fflush(stdout);

  LoadOptions o;
  o.open_loop = mode == "open";
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  o.warmup = absl::GetFlag(FLAGS_warmup);
  o.duration = absl::GetFlag(FLAGS_duration);
  o.calls = absl::GetFlag(FLAGS_calls);
  // The bench runner's profiler starts counting at this line (after the warm-up).
  o.on_measure = [] {
    std::printf("measuring\n");
    std::fflush(stdout);
  };
  Scenario* sc = scenario->get();
  LoadDriver driver(o, [sc](uint64_t seq, CallDone done) { sc->Start(seq, std::move(done)); });
  LoadResult r = driver.Run();

  const LatencyHistogram& h = *r.latency;
  json latency = {{"p50", Ms(h.Percentile(50))}, {"p90", Ms(h.Percentile(90))},
                  {"p99", Ms(h.Percentile(99))}, {"p999", Ms(h.Percentile(99.9))},
                  {"max", Ms(h.max())},          {"mean", h.mean() / 1e6}};
  json errors = json::object();
  json samples = json::object();
  for (size_t c = 1; c < r.codes.size(); ++c) {
    if (r.codes[c] > 0) errors[CodeName(static_cast<int>(c))] = r.codes[c];
  }
  for (const auto& [code, msg] : r.first_error) samples[CodeName(code)] = msg;

  std::printf("%-22s %s %s, %d channels, %.1f s measured after %.1f s warm-up (setup %.1f s)\n",
              label.c_str(), mode.c_str(),
              o.open_loop ? absl::StrFormat("%.0f calls/s", o.rate).c_str()
                          : absl::StrFormat("concurrency %d", o.concurrency).c_str(),
              n_channels, r.window_seconds, o.calls > 0 ? 0.0 : absl::ToDoubleSeconds(o.warmup),
              setup_seconds);
  std::printf(
      "  %10.0f calls/s ok   latency ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
      r.throughput(), Ms(h.Percentile(50)), Ms(h.Percentile(90)), Ms(h.Percentile(99)),
      Ms(h.Percentile(99.9)), Ms(h.max()));
  std::printf("  ok %llu, errors %llu", static_cast<unsigned long long>(r.calls_ok),
              static_cast<unsigned long long>(r.errors()));
  for (const auto& [code, msg] : r.first_error) {
    std::printf("; %s %llu (first: %s)", CodeName(code),
                static_cast<unsigned long long>(r.codes[code]), msg.c_str());
  }
  std::printf("\n");
  std::fflush(stdout);

  Emit(json{{"scenario", label},
            {"kind", "unary"},
            {"ok", true},
            {"mode", mode},
            {"concurrency", o.open_loop ? 0 : o.concurrency},
            {"rate", o.open_loop ? o.rate : 0.0},
            {"channels", n_channels},
            {"warmup_seconds", o.calls > 0 ? 0.0 : absl::ToDoubleSeconds(o.warmup)},
            {"window_seconds", r.window_seconds},
            {"deadline_ms", absl::ToDoubleMilliseconds(env.deadline)},
            {"setup_seconds", setup_seconds},
            {"calls_ok", r.calls_ok},
            {"calls_total", r.calls_total},
            {"calls_ok_total", r.calls_ok_total},
            {"throughput", r.throughput()},
            {"latency_ms", latency},
            {"errors", errors},
            {"error_samples", samples},
            {"peak_in_flight", r.peak_in_flight},
            {"held_back", r.held_back}});
  return 0;
}

}  // namespace
}  // namespace trellis::perf

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The Redis client's own lines (connected, ...) would interleave with the figures.
  trellis::log::Configure("loadgen", trellis::log::Level::kWarn);
  return trellis::perf::Run();
}
