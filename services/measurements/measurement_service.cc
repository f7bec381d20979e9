#include "services/measurements/measurement_service.h"

#include <algorithm>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/clinical/severity.h"
#include "common/ids/ids.h"
#include "common/log/log.h"
#include "common/server/admit.h"
#include "common/server/flags.h"
#include "common/server/peer.h"
#include "common/server/rpc.h"
#include "common/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/status.pb.h"
#include "services/measurements/domain/fhir_observation.h"
#include "services/measurements/domain/metric_definition.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "services/measurements/domain/tenant_settings.h"

namespace trellis::measurements {
namespace {

namespace v1 = ::trellis::v1;
using server::DeadlineOf;
using server::Finish;

constexpr int kMaxBatchItems = 10000;
constexpr int kMaxExportMetrics = 50;
constexpr size_t kMaxCachedTenants = 10000;

absl::Status PermissionDenied(absl::string_view what) {
  return WithReason(absl::PermissionDeniedError(what), "PERMISSION_DENIED");
}

absl::Status PeerUnavailable() {
  return UnavailableError("the goal service is unavailable; retry", "PEER_UNAVAILABLE");
}

// Opaque page tokens: the store cursor plus the fingerprint of the filters it belongs to.
std::string EncodePageToken(absl::string_view cursor, absl::string_view filters) {
  if (cursor.empty()) return "";
  std::string out;
  absl::WebSafeBase64Escape(absl::StrCat(cursor, "\n", filters), &out);
  return out;
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view filters) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return InvalidField("page_token", "is not a page token of this call");
  }
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('\n', 1));
  if (parts.size() != 2 || parts[1] != filters || parts[0].empty()) {
    return InvalidField("page_token", "does not belong to this call (filters differ)");
  }
  return parts[0];
}

// "patients/{patient}/<collection>/{id}".
struct ResourceName {
  std::string patient;
  std::string id;
};

absl::StatusOr<ResourceName> ParseName(absl::string_view field, absl::string_view name,
                                       absl::string_view collection) {
  std::vector<std::string> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != "patients" || parts[2] != collection ||
      !ValidateId(field, parts[1]).ok() || !ValidateId(field, parts[3]).ok()) {
    return InvalidField(field, absl::StrCat("must be patients/{patient}/", collection, "/{id}"));
  }
  return ResourceName{parts[1], parts[3]};
}

absl::Status ValidatePageSize(int32_t page_size, int32_t max) {
  if (page_size < 0 || page_size > max) {
    return InvalidField("page_size", absl::StrCat("must be between 0 and ", max));
  }
  return absl::OkStatus();
}

// Interval bounds in ms; INVALID_ARGUMENT naming `field` when malformed.
absl::Status ParseInterval(const v1::Interval& interval, absl::string_view field,
                           std::optional<int64_t>* start, std::optional<int64_t>* end) {
  if (interval.has_start_time()) {
    if (!IsValidTimestamp(interval.start_time())) {
      return InvalidField(absl::StrCat(field, ".start_time"), "is not a valid timestamp");
    }
    *start = ToMillis(ToAbslTime(interval.start_time()));
  }
  if (interval.has_end_time()) {
    if (!IsValidTimestamp(interval.end_time())) {
      return InvalidField(absl::StrCat(field, ".end_time"), "is not a valid timestamp");
    }
    *end = ToMillis(ToAbslTime(interval.end_time()));
  }
  if (*start && *end && **start >= **end) {
    return InvalidField(field, "start_time must be before end_time");
  }
  return absl::OkStatus();
}

v1::Metric Configured(const v1::Metric& metric, const clinical::InstrumentConfig& config) {
  v1::Metric out = metric;
  clinical::ApplyInstrumentConfig(config, &out);
  return out;
}

// Rank of a metric id in "built-ins first, then by id" order.
std::pair<int, std::string> MetricOrder(const std::string& id) {
  const auto& builtins = clinical::BuiltIns();
  for (size_t i = 0; i < builtins.size(); ++i) {
    if (builtins[i].id() == id) return {static_cast<int>(i), ""};
  }
  return {static_cast<int>(builtins.size()), id};
}

// A per-item error of a batch: the google.rpc.Status the unary call would have answered.
google::rpc::Status RpcStatusOf(const absl::Status& status) {
  grpc::Status g = ToGrpcStatus(status);
  google::rpc::Status out;
  if (g.error_details().empty() || !out.ParseFromString(g.error_details())) {
    out.set_code(static_cast<int>(g.error_code()));
    out.set_message(g.error_message());
  }
  return out;
}

// Re-roots the field violations of `status` under `prefix` (batch items); keeps other statuses.
absl::Status Reroot(const absl::Status& status, absl::string_view prefix) {
  if (status.code() != absl::StatusCode::kInvalidArgument || FieldViolationsOf(status).empty()) {
    return status;
  }
  FieldViolations v;
  v.Merge(status, prefix);
  return v.ToStatus();
}

absl::Time GoalStart(const v1::Goal& goal) {
  if (auto start = StartOfDayUtc(goal.start_date()); start.has_value()) return *start;
  if (goal.has_create_time()) return ToAbslTime(goal.create_time());
  return absl::UnixEpoch();
}

}  // namespace

MeasurementServiceHandler::MeasurementServiceHandler(const server::ServiceEnv& env,
                                                     MeasurementServiceOptions options)
    : env_(env),
      options_(std::move(options)),
      store_(env.redis),
      settings_(options_.settings_ttl, kMaxCachedTenants),
      calculator_(options_.progress) {
  const ProgressConfig& c = options_.progress;
  // Stable across processes of one build (std::hash of a string), unlike absl::Hash.
  std::string settings = absl::StrCat(
      "v1;", absl::FormatDuration(c.trend_window), ";", c.min_trend_points, ";",
      absl::FormatDuration(c.min_trend_span), ";", absl::FormatDuration(c.stalled_window), ";",
      c.min_points_in_stalled_window, ";", c.meaningful_change, ";", c.on_track_tolerance, ";",
      absl::FormatDuration(c.sustain_duration), ";", absl::FormatDuration(c.max_projection), ";",
      c.instruments.phq9_reliable_change, ";", c.instruments.gad7_reliable_change, ";",
      c.instruments.phq9_caseness, ";", c.instruments.gad7_caseness);
  for (auto& m : clinical::ConfiguredBuiltIns(options_.progress.instruments)) {
    absl::StrAppend(&settings, ";", m.SerializeAsString());
    std::string id = m.id();
    configured_builtins_.emplace(std::move(id), std::make_shared<const v1::Metric>(std::move(m)));
  }
  config_tag_ = absl::StrCat(absl::Hex(std::hash<std::string>{}(settings)));
}

absl::StatusOr<auth::Identity> MeasurementServiceHandler::Admit(
    const grpc::CallbackServerContext& ctx, absl::string_view method,
    absl::string_view patient) const {
  return server::Admit(env_, ctx, method, absl::OkStatus(), patient);
}

// ---------------------------------------------------------------------------------------------
// Instruments and metrics

grpc::ServerUnaryReactor* MeasurementServiceHandler::ListInstruments(
    grpc::CallbackServerContext* ctx, const v1::ListInstrumentsRequest* request,
    v1::ListInstrumentsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.ListInstruments");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  FieldViolations v;
  std::set<int> kinds;
  for (int i = 0; i < request->kinds_size(); ++i) {
    int k = request->kinds(i);
    if (k == v1::METRIC_KIND_UNSPECIFIED || !v1::MetricKind_IsValid(k)) {
      v.Add(absl::StrCat("kinds[", i, "]"), "is not a metric kind");
    }
    kinds.insert(k);
  }
  v.Merge(ValidatePageSize(request->page_size(), 500));
  if (!v.empty()) return Finish(reactor, v.ToStatus()), reactor;
  std::string filters = absl::StrJoin(kinds, ",");
  auto cursor = DecodePageToken(request->page_token(), filters);
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;
  size_t offset = 0;
  if (!cursor->empty() && !absl::SimpleAtoi(*cursor, &offset)) {
    return Finish(reactor, InvalidField("page_token", "is not a page token of this call")), reactor;
  }
  size_t page_size = request->page_size() == 0 ? 100 : request->page_size();
  absl::Time deadline = DeadlineOf(*ctx);
  std::string tenant = who->tenant;
  TenantInstrumentConfig(
      tenant, deadline,
      [this, reactor, response, tenant, kinds, offset, page_size, filters,
       deadline](absl::StatusOr<clinical::InstrumentConfig> config) {
        if (!config.ok()) return Finish(reactor, config.status());
        store_.ListTenantMetrics(
            tenant,
            [reactor, response, kinds, offset, page_size, filters,
             config = *config](absl::StatusOr<std::vector<v1::Metric>> tenant_metrics) {
              if (!tenant_metrics.ok()) return Finish(reactor, tenant_metrics.status());
              std::vector<v1::Metric> all = clinical::ConfiguredBuiltIns(config);
              for (auto& m : *tenant_metrics) all.push_back(std::move(m));
              std::vector<v1::Metric> filtered;
              for (auto& m : all) {
                if (kinds.empty() || kinds.count(m.kind()) > 0) filtered.push_back(std::move(m));
              }
              for (size_t i = offset; i < filtered.size() && i < offset + page_size; ++i) {
                *response->add_metrics() = filtered[i];
              }
              if (offset + page_size < filtered.size()) {
                response->set_next_page_token(
                    EncodePageToken(absl::StrCat(offset + page_size), filters));
              }
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      });
  return reactor;
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::GetMetric(grpc::CallbackServerContext* ctx,
                                                               const v1::GetMetricRequest* request,
                                                               v1::Metric* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.GetMetric");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  if (auto s = ValidateId("id", request->id()); !s.ok()) return Finish(reactor, s), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  std::string tenant = who->tenant, id = request->id();
  TenantInstrumentConfig(
      tenant, deadline,
      [this, reactor, response, tenant, id,
       deadline](absl::StatusOr<clinical::InstrumentConfig> config) {
        if (!config.ok()) return Finish(reactor, config.status());
        store_.GetMetric(
            tenant, id,
            [reactor, response, config = *config](absl::StatusOr<v1::Metric> metric) {
              if (!metric.ok()) return Finish(reactor, metric.status());
              *response = Configured(*metric, config);
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      });
  return reactor;
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::DefineMetric(
    grpc::CallbackServerContext* ctx, const v1::DefineMetricRequest* request,
    v1::Metric* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.DefineMetric");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  FieldViolations v;
  auto prepared = PrepareMetricDefinition(request->metric());
  if (!prepared.ok()) v.Merge(prepared.status());
  if (!request->request_id().empty()) v.Merge(ValidateId("request_id", request->request_id()));
  if (!v.empty()) return Finish(reactor, v.ToStatus()), reactor;
  if (!prepared.ok()) return Finish(reactor, prepared.status()), reactor;
  v1::Metric metric = *std::move(prepared);
  absl::Time now = env_.clock->Now();
  metric.set_etag("1");
  *metric.mutable_create_time() = ToProtoTimestamp(now);
  *metric.mutable_update_time() = ToProtoTimestamp(now);
  store_.DefineMetric(
      who->tenant, metric, request->request_id(), Fingerprint(*request),
      [reactor, response, metric](absl::StatusOr<MeasurementStore::DefineResult> r) {
        if (!r.ok()) return Finish(reactor, r.status());
        if (!r->created && !r->replayed && !SameMetricDefinition(r->metric, metric)) {
          return Finish(
              reactor,
              WithReason(absl::AlreadyExistsError("a different metric with this id already exists"),
                         "ALREADY_EXISTS"));
        }
        *response = r->metric;
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Writes

void MeasurementServiceHandler::Record(const auth::Identity& who,
                                       const v1::RecordMeasurementRequest& request,
                                       absl::Time deadline, RecordDone done) {
  const v1::Measurement& m = request.measurement();
  FieldViolations v;
  v.Merge(ValidateId("measurement.patient", m.patient()));
  v.Merge(ValidateId("measurement.metric", m.metric()));
  if (!request.request_id().empty()) v.Merge(ValidateId("request_id", request.request_id()));
  if (!v.empty()) return done(v.ToStatus());
  if (auto s = auth::CheckPatientAccess(who, m.patient()); !s.ok()) return done(s);
  if (!m.occurrence().empty() && who.role != v1::ROLE_SERVICE) {
    return done(InvalidField("measurement.occurrence", "may only be set by a service"));
  }
  store_.GetMetric(
      who.tenant, m.metric(),
      [this, who, request, deadline,
       done = std::move(done)](absl::StatusOr<v1::Metric> metric) mutable {
        if (absl::IsNotFound(metric.status())) {
          return done(InvalidField("measurement.metric", "is not a known metric"));
        }
        if (!metric.ok()) return done(metric.status());
        absl::Time now = env_.clock->Now();
        auto prepared =
            PrepareMeasurement(request.measurement(), *metric, who.role, now, options_.limits);
        if (!prepared.ok()) return done(prepared.status());
        v1::Measurement stored = *std::move(prepared);
        stored.set_name(absl::StrCat("patients/", stored.patient(), "/measurements/", NewId()));
        *stored.mutable_create_time() = ToProtoTimestamp(now);
        stored.set_request_id(request.request_id());
        *stored.mutable_recorded_by() = who.ToActor();
        MeasurementWrite w;
        w.tenant = who.tenant;
        w.audit = who.audit_note;
        w.measurement = stored;
        w.method = "RecordMeasurement";
        w.request_id = request.request_id();
        w.fingerprint = Fingerprint(request);
        CheckGoalThenWrite(
            "measurement.goal", std::move(w), who.trace,
            [stored, done = std::move(done)](absl::StatusOr<WriteResult> r) mutable {
              if (!r.ok()) return done(r.status());
              RecordOutcome out;
              out.replayed = r->replayed;
              if (r->replayed) {
                if (!out.measurement.ParseFromString(r->result)) {
                  return done(absl::InternalError("stored result could not be read"));
                }
              } else {
                out.measurement = stored;
              }
              log::Write(log::Level::kInfo, "measurement recorded",
                         log::Fields()
                             .Add("measurement", out.measurement.name())
                             .Add("metric", out.measurement.metric())
                             .Add("replayed", out.replayed));
              done(std::move(out));
            },
            deadline);
      },
      deadline);
}

void MeasurementServiceHandler::Submit(const auth::Identity& who,
                                       const v1::SubmitQuestionnaireRequest& request,
                                       absl::Time deadline, RecordDone done) {
  FieldViolations v;
  v.Merge(ValidateId("patient", request.patient()));
  if (!request.request_id().empty()) v.Merge(ValidateId("request_id", request.request_id()));
  const v1::Metric* builtin = clinical::FindBuiltIn(request.instrument());
  if (builtin == nullptr || builtin->kind() != v1::METRIC_KIND_QUESTIONNAIRE) {
    v.Add("instrument", "must be a questionnaire: \"phq9\" or \"gad7\"");
  }
  if (!request.occurrence().empty() && who.role != v1::ROLE_SERVICE) {
    v.Add("occurrence", "may only be set by a service");
  }
  if (!v.empty()) return done(v.ToStatus());
  if (auto s = auth::CheckPatientAccess(who, request.patient()); !s.ok()) return done(s);
  // Proration follows the tenant's settings (usually from the in-process cache).
  TenantInstrumentConfig(
      who.tenant, deadline,
      [this, who, request, builtin, deadline,
       done = std::move(done)](absl::StatusOr<clinical::InstrumentConfig> config) mutable {
        if (!config.ok()) return done(config.status());
        ScoreAndStore(who, request, *builtin, *config, deadline, std::move(done));
      });
}

void MeasurementServiceHandler::ScoreAndStore(const auth::Identity& who,
                                              const v1::SubmitQuestionnaireRequest& request,
                                              const v1::Metric& builtin,
                                              const clinical::InstrumentConfig& config,
                                              absl::Time deadline, RecordDone done) {
  v1::Metric instrument = Configured(builtin, config);
  absl::Time now = env_.clock->Now();
  auto prepared = PrepareSubmission(request, instrument, config, who.role, now, options_.limits);
  if (!prepared.ok()) return done(prepared.status());
  v1::Measurement stored = *std::move(prepared);
  stored.set_name(absl::StrCat("patients/", stored.patient(), "/measurements/", NewId()));
  *stored.mutable_create_time() = ToProtoTimestamp(now);
  stored.set_request_id(request.request_id());
  *stored.mutable_recorded_by() = who.ToActor();
  MeasurementWrite w;
  w.audit = who.audit_note;
  for (v1::SafetyFlag& f : *stored.mutable_questionnaire()->mutable_safety_flags()) {
    f.set_name(absl::StrCat("patients/", stored.patient(), "/safetyFlags/", NewId()));
    f.set_patient(stored.patient());
    f.set_measurement(stored.name());
    *f.mutable_raise_time() = ToProtoTimestamp(now);
    *f.mutable_update_time() = ToProtoTimestamp(now);
    f.set_state(v1::SAFETY_FLAG_STATE_OPEN);
    f.set_etag("1");
    w.flags.push_back(f);
  }
  w.tenant = who.tenant;
  w.measurement = stored;
  w.method = "SubmitQuestionnaire";
  w.request_id = request.request_id();
  w.fingerprint = Fingerprint(request);
  size_t flag_count = w.flags.size();
  std::vector<v1::SafetyFlag> flags = w.flags;
  std::string tenant = w.tenant;
  auto write = [this, w = std::move(w), origin = who.trace,
                deadline](MeasurementStore::Callback<WriteResult> written) mutable {
    CheckGoalThenWrite("goal", std::move(w), origin, std::move(written), deadline);
  };
  auto on_written = [stored, flag_count,
                     done = std::move(done)](absl::StatusOr<WriteResult> r) mutable {
    if (!r.ok()) return done(r.status());
    RecordOutcome out;
    out.replayed = r->replayed;
    if (r->replayed) {
      if (!out.measurement.ParseFromString(r->result)) {
        return done(absl::InternalError("stored result could not be read"));
      }
    } else {
      out.measurement = stored;
    }
    // Ids only: never answers or notes.
    log::Write(log::Level::kInfo, "questionnaire recorded",
               log::Fields()
                   .Add("measurement", out.measurement.name())
                   .Add("metric", out.measurement.metric())
                   .Add("safety_flags", static_cast<int64_t>(flag_count))
                   .Add("replayed", out.replayed));
    done(std::move(out));
  };
  if (flags.empty()) return write(std::move(on_written));
  // Flags enter the tenant-wide log first (another slot), then the submission is stored.
  store_.IndexTenantFlags(
      tenant, flags,
      [write = std::move(write),
       on_written = std::move(on_written)](absl::StatusOr<bool> indexed) mutable {
        if (!indexed.ok()) return on_written(indexed.status());
        write(std::move(on_written));
      },
      deadline);
}

void MeasurementServiceHandler::CheckGoalThenWrite(std::string field, MeasurementWrite write,
                                                   const trace::CallContext& origin,
                                                   MeasurementStore::Callback<WriteResult> done,
                                                   absl::Time deadline) {
  if (write.measurement.goal().empty()) {
    return store_.WriteMeasurement(std::move(write), std::move(done), deadline);
  }
  auto name = ParseName(field, write.measurement.goal(), "goals");
  if (!name.ok()) return done(name.status());
  std::string tenant = write.tenant;
  // The goal must exist (usually a hit in the shared cache; GoalService on a miss).
  FetchGoal(tenant, name->patient, name->id, origin, deadline,
            [this, field, write = std::move(write), done = std::move(done),
             deadline](absl::StatusOr<v1::Goal> goal) mutable {
              if (absl::IsNotFound(goal.status())) {
                return done(NotFoundError(absl::StrCat(field, ": goal not found")));
              }
              if (!goal.ok()) return done(goal.status());
              store_.WriteMeasurement(std::move(write), std::move(done), deadline);
            });
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::RecordMeasurement(
    grpc::CallbackServerContext* ctx, const v1::RecordMeasurementRequest* request,
    v1::Measurement* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.RecordMeasurement", request->measurement().patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  Record(*who, *request, DeadlineOf(*ctx), [reactor, response](absl::StatusOr<RecordOutcome> r) {
    if (!r.ok()) return Finish(reactor, r.status());
    *response = std::move(r->measurement);
    Finish(reactor, absl::OkStatus());
  });
  return reactor;
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::SubmitQuestionnaire(
    grpc::CallbackServerContext* ctx, const v1::SubmitQuestionnaireRequest* request,
    v1::SubmitQuestionnaireResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.SubmitQuestionnaire", request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  Submit(*who, *request, DeadlineOf(*ctx), [reactor, response](absl::StatusOr<RecordOutcome> r) {
    if (!r.ok()) return Finish(reactor, r.status());
    *response->mutable_safety_flags() = r->measurement.questionnaire().safety_flags();
    *response->mutable_measurement() = std::move(r->measurement);
    Finish(reactor, absl::OkStatus());
  });
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// BatchRecordMeasurements: buffer, then write. The stream is read to its end first; each item is
// checked on its own as it arrives (client_index unique, exactly one item, request_id present,
// size), and nothing is stored before the client half-closes. So a stream that turns out too
// long (its 10 001st item) is refused with nothing stored, and so is a cancelled one. Then the
// buffered items are validated fully and stored, at most options.batch_in_flight at once, and the
// results answered in arrival order.
//
// Why not one atomic write of the whole batch: items may be for several patients (several Redis
// Cluster slots, so no single script), and one bad item must not reject the rest. What is
// guaranteed is "nothing is stored from a stream the server refuses as a whole"; a store failure
// during the writes still ends the call with UNAVAILABLE after some items were stored, which the
// items' request_ids make safe to re-send.
//
// The buffer is bounded: at most kMaxBatchItems items of at most kMaxBatchItemBytes each.

namespace {

// The largest valid item (a 2000-character note of 4-byte characters, ids, a goal name and nine
// answers) is under 9 KiB; the limit only keeps a stream of 4 MiB messages out of memory.
constexpr size_t kMaxBatchItemBytes = 16 * 1024;

class BatchReactor final : public grpc::ServerReadReactor<v1::BatchRecordMeasurementsRequest> {
 public:
  BatchReactor(MeasurementServiceHandler* handler, grpc::CallbackServerContext* ctx,
               v1::BatchRecordMeasurementsResponse* response, int max_in_flight)
      : handler_(handler), ctx_(ctx), response_(response), max_in_flight_(max_in_flight) {
    auto who = handler_->Admit(*ctx, "MeasurementService.BatchRecordMeasurements");
    if (!who.ok()) {
      Finish(ToGrpcStatus(who.status()));
      return;
    }
    who_ = *std::move(who);
    StartRead(&request_);
  }

  // Reads run one at a time: nothing else touches the buffer until the writes start.
  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-closed, or the call is gone (cancelled, deadline): store only in the first case.
      if (ctx_->IsCancelled()) {
        Finish(ToGrpcStatus(absl::CancelledError("the batch was cancelled; nothing was stored")));
        return;
      }
      Pump();
      return;
    }
    bool too_many = false;
    {
      absl::MutexLock lock(&mu_);
      too_many = results_.size() == static_cast<size_t>(kMaxBatchItems);
      if (!too_many) Buffer(std::move(request_));
    }
    if (too_many) {
      Finish(ToGrpcStatus(
          InvalidField("items", absl::StrCat("a stream carries at most ", kMaxBatchItems,
                                             " items; none of them was stored"))));
      return;
    }
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  // Records the item's result slot; keeps the item for writing unless it is already refused.
  void Buffer(v1::BatchRecordMeasurementsRequest item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t slot = results_.size();
    v1::BatchItemResult& r = results_.emplace_back();
    r.set_client_index(item.client_index());
    absl::Status refused;
    if (!seen_.insert(item.client_index()).second) {
      refused = InvalidField("client_index", "is repeated in this stream");
    } else if (item.ByteSizeLong() > kMaxBatchItemBytes) {
      refused = InvalidField("item", absl::StrCat("is larger than ", kMaxBatchItemBytes, " bytes"));
    } else if (item.item_case() == v1::BatchRecordMeasurementsRequest::ITEM_NOT_SET) {
      refused = InvalidField("item", "one of measurement or questionnaire is required");
    } else if (item.has_measurement() && item.measurement().request_id().empty()) {
      refused = InvalidField("measurement.request_id", "is required in a batch");
    } else if (item.has_questionnaire() && item.questionnaire().request_id().empty()) {
      refused = InvalidField("questionnaire.request_id", "is required in a batch");
    }
    if (!refused.ok()) {
      *r.mutable_error() = RpcStatusOf(refused);
      return;
    }
    pending_.push_back({slot, std::move(item)});
  }

  // Starts writes while the window has room, and completes the call after the last one. A call
  // made while the loop runs (a write that completed at once, or on another thread) only asks the
  // loop to look again, so items refused without a store call cannot recurse 10 000 deep.
  void Pump() {
    {
      absl::MutexLock lock(&mu_);
      if (pumping_) {
        repump_ = true;
        return;
      }
      pumping_ = true;
    }
    for (;;) {
      std::optional<Pending> next;
      bool finish = false;
      {
        absl::MutexLock lock(&mu_);
        if (!fatal_.has_value() && next_ < pending_.size() && in_flight_ < max_in_flight_) {
          next = std::move(pending_[next_++]);
          ++in_flight_;
        } else if (repump_) {
          repump_ = false;
          continue;
        } else {
          pumping_ = false;
          finish =
              !finished_ && in_flight_ == 0 && (fatal_.has_value() || next_ == pending_.size());
          finished_ = finished_ || finish;
        }
      }
      if (!next.has_value()) {
        if (finish) Complete();
        return;
      }
      Dispatch(next->slot, std::move(next->item));
    }
  }

  void Dispatch(size_t slot, v1::BatchRecordMeasurementsRequest item) {
    absl::Time deadline = DeadlineOf(*ctx_);
    auto done = [this, slot,
                 questionnaire = item.has_questionnaire()](absl::StatusOr<RecordOutcome> r) {
      {
        absl::MutexLock lock(&mu_);
        --in_flight_;
        v1::BatchItemResult& result = results_[slot];
        if (r.ok()) {
          result.set_measurement(r->measurement.name());
          result.set_duplicate(r->replayed);
          *result.mutable_safety_flags() = r->measurement.questionnaire().safety_flags();
        } else if (absl::IsUnavailable(r.status()) || absl::IsDeadlineExceeded(r.status())) {
          if (!fatal_.has_value()) {
            fatal_ = UnavailableError("the store is unavailable; re-send the batch",
                                      "STORE_UNAVAILABLE");
          }
        } else {
          *result.mutable_error() =
              RpcStatusOf(Reroot(r.status(), questionnaire ? "questionnaire" : ""));
        }
      }
      Pump();
    };
    if (item.has_measurement()) {
      handler_->Record(who_, item.measurement(), deadline, std::move(done));
    } else {
      handler_->Submit(who_, item.questionnaire(), deadline, std::move(done));
    }
  }

  // Runs once, with no write in flight.
  void Complete() {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (fatal_.has_value()) {
        status = *fatal_;
      } else {
        int accepted = 0, rejected = 0;
        for (auto& r : results_) {
          if (r.has_error()) {
            ++rejected;
          } else {
            ++accepted;
          }
          *response_->add_results() = std::move(r);
        }
        response_->set_accepted_count(accepted);
        response_->set_rejected_count(rejected);
      }
    }
    log::Info("batch recorded", {{"items", response_->results_size()},
                                 {"accepted", response_->accepted_count()},
                                 {"rejected", response_->rejected_count()}});
    Finish(ToGrpcStatus(status));
  }

  struct Pending {
    size_t slot;  // index in results_
    v1::BatchRecordMeasurementsRequest item;
  };

  MeasurementServiceHandler* handler_;
  grpc::CallbackServerContext* ctx_;
  v1::BatchRecordMeasurementsResponse* response_;
  const int max_in_flight_;
  auth::Identity who_;
  v1::BatchRecordMeasurementsRequest request_;  // the read buffer
  absl::Mutex mu_;
  std::vector<v1::BatchItemResult> results_ ABSL_GUARDED_BY(mu_);  // one per item read
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);              // items to write, in order
  std::set<int64_t> seen_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // the next pending_ item to write
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool pumping_ ABSL_GUARDED_BY(mu_) = false;
  bool repump_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> fatal_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerReadReactor<v1::BatchRecordMeasurementsRequest>*
MeasurementServiceHandler::BatchRecordMeasurements(grpc::CallbackServerContext* ctx,
                                                   v1::BatchRecordMeasurementsResponse* response) {
  return new BatchReactor(this, ctx, response, options_.batch_in_flight);
}

// ---------------------------------------------------------------------------------------------
// Reads

grpc::ServerUnaryReactor* MeasurementServiceHandler::ListMeasurements(
    grpc::CallbackServerContext* ctx, const v1::ListMeasurementsRequest* request,
    v1::ListMeasurementsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations v;
  v.Merge(ValidateId("patient", request->patient()));
  if (!request->metric().empty()) v.Merge(ValidateId("metric", request->metric()));
  MeasurementQuery q;
  v.Merge(ParseInterval(request->observe_interval(), "observe_interval", &q.start_ms, &q.end_ms));
  if (!request->goal().empty()) {
    auto goal = ParseName("goal", request->goal(), "goals");
    if (!goal.ok()) {
      v.Merge(goal.status());
    } else if (goal->patient != request->patient()) {
      v.Add("goal", "must be a goal of the same patient");
    } else {
      q.goal_id = goal->id;
    }
  }
  if (!v1::TimeOrder_IsValid(request->order())) v.Add("order", "is not a time order");
  v.Merge(ValidatePageSize(request->page_size(), 1000));
  auto who = server::Admit(env_, *ctx, "MeasurementService.ListMeasurements", v.ToStatus(),
                           request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  q.metric = request->metric();
  q.newest_first = request->order() != v1::TIME_ORDER_OLDEST_FIRST;
  q.page_size = request->page_size() == 0 ? 100 : request->page_size();
  std::string filters =
      absl::StrCat(request->patient(), "|", q.metric, "|", q.goal_id, "|", q.start_ms.value_or(-1),
                   "|", q.end_ms.value_or(-1), "|", q.newest_first);
  auto cursor = DecodePageToken(request->page_token(), filters);
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;
  q.cursor = *cursor;
  store_.ListMeasurements(
      who->tenant, request->patient(), q,
      [reactor, response, filters](absl::StatusOr<MeasurementPage> page) {
        if (!page.ok()) return Finish(reactor, page.status());
        for (auto& m : page->measurements) *response->add_measurements() = std::move(m);
        response->set_next_page_token(EncodePageToken(page->next_cursor, filters));
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Goals: shared cache first, GoalService over gRPC on a miss.

std::shared_ptr<grpc::Channel> MeasurementServiceHandler::GoalsChannel() {
  return options_.goals_channel ? options_.goals_channel() : nullptr;
}

void MeasurementServiceHandler::PreparePeerCall(grpc::ClientContext& ctx, const std::string& tenant,
                                                const trace::CallContext& origin,
                                                absl::Time deadline) const {
  deadline = std::min(deadline, absl::Now() + options_.peer_timeout);
  const auth::AuthOptions* auth_options = env_.config != nullptr ? &env_.config->auth
                                          : env_.authenticator != nullptr
                                              ? &env_.authenticator->options()
                                              : nullptr;
  if (auth_options != nullptr) {
    auth::PrepareServiceCall(ctx, *auth_options, tenant, "trellis-measurements", deadline, origin);
    return;
  }
  // No credentials to sign with: the call goes out unauthenticated and the peer refuses it.
  ctx.set_deadline(absl::ToChronoTime(deadline));
  trace::Propagate(ctx, origin);
}

namespace {

template <typename Request, typename Response>
struct PeerCall {
  grpc::ClientContext ctx;
  Request request;
  Response response;
  std::unique_ptr<v1::GoalService::Stub> stub;
};

absl::Status FromPeer(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return PeerUnavailable();
    case grpc::StatusCode::NOT_FOUND:
      return NotFoundError("goal not found");
    default:
      log::Warn("goal service call failed", {{"code", static_cast<int>(s.error_code())}});
      return WithReason(absl::InternalError("the goal service refused the call"), "PEER_ERROR");
  }
}

}  // namespace

void MeasurementServiceHandler::PeerGetGoal(const std::string& tenant, const std::string& name,
                                            const trace::CallContext& origin, absl::Time deadline,
                                            GoalDone done) {
  auto channel = GoalsChannel();
  if (channel == nullptr) return done(PeerUnavailable());
  auto call = std::make_shared<PeerCall<v1::GetGoalRequest, v1::Goal>>();
  call->stub = v1::GoalService::NewStub(channel);
  PreparePeerCall(call->ctx, tenant, origin, deadline);
  v1::GetGoalRequest& request = call->request;
  request.set_name(name);
  auto shared_done = std::make_shared<GoalDone>(std::move(done));
  call->stub->async()->GetGoal(&call->ctx, &request, &call->response,
                               [call, shared_done](grpc::Status s) {
                                 if (!s.ok()) return (*shared_done)(FromPeer(s));
                                 (*shared_done)(std::move(call->response));
                               });
}

void MeasurementServiceHandler::PeerListActiveGoals(const std::string& tenant,
                                                    const std::string& patient,
                                                    const trace::CallContext& origin,
                                                    absl::Time deadline, GoalsDone done) {
  auto channel = GoalsChannel();
  if (channel == nullptr) return done(PeerUnavailable());
  auto call = std::make_shared<PeerCall<v1::ListGoalsRequest, v1::ListGoalsResponse>>();
  call->stub = v1::GoalService::NewStub(channel);
  PreparePeerCall(call->ctx, tenant, origin, deadline);
  v1::ListGoalsRequest& request = call->request;
  request.set_patient(patient);
  request.add_lifecycle_statuses(v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  request.set_page_size(100);
  auto shared_done = std::make_shared<GoalsDone>(std::move(done));
  call->stub->async()->ListGoals(
      &call->ctx, &request, &call->response, [call, shared_done](grpc::Status s) {
        if (!s.ok()) return (*shared_done)(FromPeer(s));
        std::vector<v1::Goal> goals(call->response.goals().begin(), call->response.goals().end());
        (*shared_done)(std::move(goals));
      });
}

void MeasurementServiceHandler::FetchGoal(const std::string& tenant, const std::string& patient,
                                          const std::string& goal_id,
                                          const trace::CallContext& origin, absl::Time deadline,
                                          GoalDone done) {
  store_.ReadCachedGoal(
      tenant, patient, goal_id,
      [this, tenant, patient, goal_id, origin, deadline,
       done = std::move(done)](absl::StatusOr<std::optional<v1::Goal>> cached) mutable {
        if (cached.ok() && cached->has_value()) return done(**std::move(cached));
        // A miss or a cache failure falls back to the owner (DESIGN.md §5.3).
        PeerGetGoal(tenant, absl::StrCat("patients/", patient, "/goals/", goal_id), origin,
                    deadline, std::move(done));
      },
      deadline);
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::GetGoalProgress(
    grpc::CallbackServerContext* ctx, const v1::GetGoalProgressRequest* request,
    v1::GoalProgress* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations v;
  auto name = ParseName("goal", request->goal(), "goals");
  if (!name.ok()) v.Merge(name.status());
  if (request->has_trend_window()) v.Merge(ValidateTrendWindow(request->trend_window()));
  auto who = server::Admit(env_, *ctx, "MeasurementService.GetGoalProgress", v.ToStatus(),
                           name.ok() ? name->patient : "", request->goal());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  std::optional<absl::Duration> trend_window;
  if (request->has_trend_window()) {
    trend_window = absl::Seconds(request->trend_window().seconds()) +
                   absl::Nanoseconds(request->trend_window().nanos());
  }
  // One call's state, shared by its steps (goal, metric, window) instead of copied into each
  // step's closure: a goal and a built-in metric are large messages, and the profile of
  // GetGoalProgress showed their copies at a tenth of its instructions.
  struct Call {
    std::string tenant, patient, goal_id;
    trace::CallContext origin;
    absl::Time deadline;
    std::optional<absl::Duration> trend_window;
    v1::Goal goal;
    std::shared_ptr<const v1::Metric> metric;  // null: no measure or an unknown metric
  };
  auto call = std::make_shared<Call>();
  call->tenant = who->tenant;
  call->patient = name->patient;
  call->goal_id = name->id;
  call->origin = who->trace;
  call->deadline = deadline;
  call->trend_window = trend_window;
  FetchGoal(
      call->tenant, call->patient, call->goal_id, call->origin, deadline,
      [this, reactor, response, call](absl::StatusOr<v1::Goal> goal) mutable {
        if (!goal.ok()) return Finish(reactor, goal.status());
        call->goal = *std::move(goal);
        // Answers with `result` and records its suggestion for the goal service when it differs
        // from the goal's status.
        auto answer = [this, reactor, response, call](ProgressResult result) {
          const v1::Goal& goal = call->goal;
          auto suggested = result.progress.suggested_achievement_status();
          if (suggested == v1::GOAL_ACHIEVEMENT_STATUS_UNSPECIFIED ||
              suggested == goal.achievement_status()) {
            *response = std::move(result.progress);
            return Finish(reactor, absl::OkStatus());
          }
          v1::SetAchievementStatusRequest wb = AchievementWriteBack(result);
          *response = std::move(result.progress);
          wb.set_request_id(NewId());
          // One entry per (suggestion, goal revision): re-reading progress while the relay
          // has not delivered yet adds nothing; a later change of the goal allows a new one.
          std::string dedupe =
              absl::StrCat(static_cast<int>(wb.achievement_status()), ",",
                           wb.has_needs_review() && wb.needs_review(), ",", goal.etag());
          store_.EnqueueWriteBack(
              call->tenant, call->patient, call->goal_id, wb, dedupe, call->origin,
              [reactor, call](absl::StatusOr<bool> added) {
                // The progress is answered either way; the next read re-enqueues.
                if (!added.ok()) {
                  log::Warn("achievement write-back not recorded",
                            {{"goal", call->goal.name()}, {"error", added.status().ToString()}});
                }
                Finish(reactor, absl::OkStatus());
              },
              call->deadline);
        };
        auto compute = [this, call](const ProgressSeries& series) {
          if (!call->trend_window) {
            return calculator_.Compute(call->goal, call->metric.get(), series, env_.clock->Now());
          }
          ProgressConfig config = calculator_.config();
          config.trend_window = *call->trend_window;
          return ProgressCalculator(config).Compute(call->goal, call->metric.get(), series,
                                                    env_.clock->Now());
        };
        auto answer_computed = [reactor, answer, compute](const ProgressSeries& series) mutable {
          auto result = compute(series);
          if (!result.ok()) return Finish(reactor, result.status());
          answer(*std::move(result));
        };
        // The window through the goal's progress cache (DESIGN.md §8: a progress read reads a
        // bounded window; repeated reads of an unchanged goal and series read the cached result).
        auto read_window = [this, reactor, call, answer, compute, answer_computed]() mutable {
          if (call->metric == nullptr) return answer_computed(ProgressSeries{});
          // The goal's etag changes with every change of the goal; without one, no cache.
          absl::Duration ttl =
              call->goal.etag().empty() ? absl::ZeroDuration() : options_.progress_cache_ttl;
          std::string tag_prefix = absl::StrCat(
              call->goal.etag(), "|",
              call->trend_window ? absl::StrCat(absl::ToInt64Seconds(*call->trend_window)) : "-",
              "|", config_tag_);
          store_.ReadProgress(
              call->tenant, call->patient, call->metric->id(), call->goal_id,
              ToMillis(GoalStart(call->goal)), tag_prefix, env_.clock->Now(), ttl,
              [this, reactor, call, answer, compute, answer_computed,
               ttl](absl::StatusOr<ProgressRead> read) mutable {
                if (!read.ok()) return Finish(reactor, read.status());
                if (read->cached.has_value()) {
                  ProgressResult cached;
                  if (DecodeProgressResult(*read->cached, &cached)) {
                    return answer(std::move(cached));
                  }
                  // Unreadable (damaged) entry: compute afresh; the next write replaces it.
                  log::Warn("progress cache entry unreadable", {{"goal", call->goal.name()}});
                  return store_.ReadProgress(
                      call->tenant, call->patient, call->metric->id(), call->goal_id,
                      ToMillis(GoalStart(call->goal)), "", env_.clock->Now(),
                      absl::ZeroDuration(),
                      [reactor, answer_computed](absl::StatusOr<ProgressRead> window) mutable {
                        if (!window.ok()) return Finish(reactor, window.status());
                        answer_computed(window->series);
                      },
                      call->deadline);
                }
                auto result = compute(read->series);
                if (!result.ok()) return Finish(reactor, result.status());
                if (ttl > absl::ZeroDuration()) {
                  store_.StoreProgress(
                      call->tenant, call->patient, call->goal_id, read->tag, env_.clock->Now(),
                      EncodeProgressResult(*result), ttl,
                      [call](absl::StatusOr<bool> stored) {
                        // A cache: without it the next read computes again.
                        if (!stored.ok()) {
                          log::Debug("progress not cached", {{"goal", call->goal.name()}});
                        }
                      },
                      call->deadline);
                }
                answer(*std::move(result));
              },
              call->deadline);
        };
        const std::string& metric_id = call->goal.measure().metric();
        if (metric_id.empty() || !ValidateId("metric", metric_id).ok()) return read_window();
        // Built-ins come configured once, at start (no store call, no copy).
        if (auto it = configured_builtins_.find(metric_id); it != configured_builtins_.end()) {
          call->metric = it->second;
          return read_window();
        }
        store_.GetMetric(
            call->tenant, metric_id,
            [this, reactor, call, read_window](absl::StatusOr<v1::Metric> metric) mutable {
              if (absl::IsNotFound(metric.status())) return read_window();
              if (!metric.ok()) return Finish(reactor, metric.status());
              call->metric = std::make_shared<const v1::Metric>(
                  Configured(*metric, options_.progress.instruments));
              read_window();
            },
            call->deadline);
      });
  return reactor;
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::GetPatientSummary(
    grpc::CallbackServerContext* ctx, const v1::GetPatientSummaryRequest* request,
    v1::PatientSummary* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = server::Admit(env_, *ctx, "MeasurementService.GetPatientSummary",
                           ValidateId("patient", request->patient()), request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  std::string tenant = who->tenant, patient = request->patient();
  PeerListActiveGoals(
      tenant, patient, who->trace, deadline,
      [this, reactor, response, tenant, patient,
       deadline](absl::StatusOr<std::vector<v1::Goal>> goals) mutable {
        if (!goals.ok()) return Finish(reactor, goals.status());
        std::vector<std::string> metrics;
        for (const auto& g : *goals) {
          const std::string& m = g.measure().metric();
          if (!m.empty() && ValidateId("metric", m).ok() &&
              std::find(metrics.begin(), metrics.end(), m) == metrics.end()) {
            metrics.push_back(m);
          }
        }
        store_.ReadSummary(
            tenant, patient, metrics,
            [this, reactor, response, tenant, patient, deadline,
             goals = *std::move(goals)](absl::StatusOr<SummaryData> data) mutable {
              if (!data.ok()) return Finish(reactor, data.status());
              store_.ListTenantMetrics(
                  tenant,
                  [this, reactor, response, patient, goals = std::move(goals),
                   data = *std::move(data)](
                      absl::StatusOr<std::vector<v1::Metric>> tenant_metrics) mutable {
                    if (!tenant_metrics.ok()) return Finish(reactor, tenant_metrics.status());
                    absl::flat_hash_map<std::string, v1::Metric> defs;
                    for (auto& m : clinical::ConfiguredBuiltIns(options_.progress.instruments)) {
                      defs[m.id()] = m;
                    }
                    for (auto& m : *tenant_metrics) defs[m.id()] = m;
                    absl::Time now = env_.clock->Now();
                    response->set_patient(patient);
                    *response->mutable_compute_time() = ToProtoTimestamp(now);
                    for (const auto& g : goals) {
                      auto def = defs.find(g.measure().metric());
                      const v1::Metric* metric = def == defs.end() ? nullptr : &def->second;
                      ProgressSeries series;
                      if (auto w = data.windows.find(g.measure().metric());
                          metric != nullptr && w != data.windows.end()) {
                        series = w->second;
                      }
                      auto result = calculator_.Compute(g, metric, series, now);
                      if (!result.ok()) return Finish(reactor, result.status());
                      *response->add_goals() = result->progress;
                      if (g.needs_review() || result->needs_review) {
                        response->add_goals_needing_review(g.name());
                      }
                    }
                    std::sort(data.latest.begin(), data.latest.end(),
                              [](const v1::Measurement& a, const v1::Measurement& b) {
                                return MetricOrder(a.metric()) < MetricOrder(b.metric());
                              });
                    for (const auto& m : data.latest) {
                      auto* score = response->add_latest_scores();
                      score->set_metric(m.metric());
                      score->mutable_latest()->set_value(m.value());
                      *score->mutable_latest()->mutable_observe_time() = m.observe_time();
                      score->mutable_latest()->set_measurement(m.name());
                      if (auto def = defs.find(m.metric()); def != defs.end()) {
                        score->set_severity_band(
                            std::string(clinical::SeverityBandOf(def->second, m.value())));
                        if (auto c = clinical::AboveCaseness(def->second, m.value())) {
                          score->set_above_caseness(*c);
                        }
                      }
                    }
                    for (auto it = data.open_flags.rbegin(); it != data.open_flags.rend(); ++it) {
                      *response->add_open_safety_flags() = *it;
                    }
                    Finish(reactor, absl::OkStatus());
                  },
                  deadline);
            },
            deadline);
      });
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Safety flags

grpc::ServerUnaryReactor* MeasurementServiceHandler::ListSafetyFlags(
    grpc::CallbackServerContext* ctx, const v1::ListSafetyFlagsRequest* request,
    v1::ListSafetyFlagsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.ListSafetyFlags", request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  if (request->patient().empty()) {
    if (who->role == v1::ROLE_CLIENT) {
      return Finish(reactor, PermissionDenied("clients list only their own flags")), reactor;
    }
  }
  FieldViolations v;
  if (!request->patient().empty()) v.Merge(ValidateId("patient", request->patient()));
  v.Merge(ValidatePageSize(request->page_size(), 1000));
  int64_t start_ms = 0;
  if (request->has_start_time()) {
    if (!IsValidTimestamp(request->start_time())) {
      v.Add("start_time", "is not a valid timestamp");
    } else {
      start_ms = ToMillis(ToAbslTime(request->start_time()));
    }
  }
  if (!v.empty()) return Finish(reactor, v.ToStatus()), reactor;
  if (auto s = auth::CheckPatientAccess(*who, request->patient()); !s.ok()) {
    return Finish(reactor, s), reactor;
  }
  std::string filters = absl::StrCat(request->patient(), "|", request->open_only(), "|", start_ms);
  auto cursor = DecodePageToken(request->page_token(), filters);
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;
  auto answer = [reactor, response, filters](absl::StatusOr<SafetyFlagPage> page) {
    if (!page.ok()) return Finish(reactor, page.status());
    for (auto& f : page->flags) *response->add_safety_flags() = std::move(f);
    response->set_next_page_token(EncodePageToken(page->next_cursor, filters));
    Finish(reactor, absl::OkStatus());
  };
  int page_size = request->page_size() == 0 ? 100 : request->page_size();
  if (request->patient().empty()) {
    // The tenant-wide log (open_only filters the page, which may then come back short).
    store_.ListTenantSafetyFlags(who->tenant, request->open_only(), start_ms, page_size, *cursor,
                                 std::move(answer), DeadlineOf(*ctx));
    return reactor;
  }
  store_.ListSafetyFlags(who->tenant, request->patient(), request->open_only(), start_ms, page_size,
                         *cursor, std::move(answer), DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::AcknowledgeSafetyFlag(
    grpc::CallbackServerContext* ctx, const v1::AcknowledgeSafetyFlagRequest* request,
    v1::SafetyFlag* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations v;
  auto name = ParseName("name", request->name(), "safetyFlags");
  if (!name.ok()) v.Merge(name.status());
  v.Merge(ValidateNote(request->note(), "note"));
  auto who = server::Admit(env_, *ctx, "MeasurementService.AcknowledgeSafetyFlag", v.ToStatus(),
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  std::string tenant = who->tenant;
  ResourceName flag_name = *name;
  // Read the flag, then apply the acknowledgement atomically (the script keeps an already
  // acknowledged flag unchanged, so two racing acknowledgements store one).
  store_.GetSafetyFlag(
      tenant, flag_name.patient, flag_name.id,
      [this, reactor, response, tenant, flag_name, who = *who, note = request->note(),
       deadline](absl::StatusOr<v1::SafetyFlag> flag) mutable {
        if (!flag.ok()) return Finish(reactor, flag.status());
        const v1::SafetyFlag* current = &*flag;
        if (current->state() == v1::SAFETY_FLAG_STATE_ACKNOWLEDGED) {
          *response = *current;
          return Finish(reactor, absl::OkStatus());
        }
        v1::SafetyFlag ack = *current;
        absl::Time now = env_.clock->Now();
        ack.set_state(v1::SAFETY_FLAG_STATE_ACKNOWLEDGED);
        *ack.mutable_acknowledged_by() = who.ToActor();
        *ack.mutable_acknowledge_time() = ToProtoTimestamp(now);
        ack.set_acknowledge_note(note);
        *ack.mutable_update_time() = ToProtoTimestamp(now);
        ack.set_etag("2");
        store_.AcknowledgeSafetyFlag(
            tenant, flag_name.patient, flag_name.id, ack, who.audit_note,
            [reactor, response](absl::StatusOr<v1::SafetyFlag> stored) {
              if (!stored.ok()) return Finish(reactor, stored.status());
              *response = *std::move(stored);
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      },
      deadline);
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// FHIR export

grpc::ServerUnaryReactor* MeasurementServiceHandler::ExportObservationsFhir(
    grpc::CallbackServerContext* ctx, const v1::ExportObservationsFhirRequest* request,
    v1::ExportObservationsFhirResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations v;
  v.Merge(ValidateId("patient", request->patient()));
  if (request->metrics_size() > kMaxExportMetrics) {
    v.Add("metrics", absl::StrCat("at most ", kMaxExportMetrics, " metrics"));
  }
  std::set<std::string> metrics;
  for (int i = 0; i < request->metrics_size(); ++i) {
    v.Merge(ValidateId(absl::StrCat("metrics[", i, "]"), request->metrics(i)));
    metrics.insert(request->metrics(i));
  }
  MeasurementQuery q;
  v.Merge(ParseInterval(request->observe_interval(), "observe_interval", &q.start_ms, &q.end_ms));
  v.Merge(ValidatePageSize(request->page_size(), 1000));
  auto who = server::Admit(env_, *ctx, "MeasurementService.ExportObservationsFhir", v.ToStatus(),
                           request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  if (metrics.size() == 1) q.metric = *metrics.begin();
  q.newest_first = false;
  q.page_size = request->page_size() == 0 ? 1000 : request->page_size();
  std::string filters = absl::StrCat(request->patient(), "|", absl::StrJoin(metrics, ","), "|",
                                     q.start_ms.value_or(-1), "|", q.end_ms.value_or(-1));
  auto cursor = DecodePageToken(request->page_token(), filters);
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;
  q.cursor = *cursor;
  absl::Time deadline = DeadlineOf(*ctx);
  std::string tenant = who->tenant;
  store_.ListMeasurements(
      tenant, request->patient(), q,
      [this, reactor, response, tenant, metrics, filters,
       deadline](absl::StatusOr<MeasurementPage> page) mutable {
        if (!page.ok()) return Finish(reactor, page.status());
        store_.ListTenantMetrics(
            tenant,
            [this, reactor, response, metrics, filters, page = *std::move(page)](
                absl::StatusOr<std::vector<v1::Metric>> tenant_metrics) mutable {
              if (!tenant_metrics.ok()) return Finish(reactor, tenant_metrics.status());
              absl::flat_hash_map<std::string, v1::Metric> defs;
              for (auto& m : clinical::ConfiguredBuiltIns(options_.progress.instruments)) {
                defs[m.id()] = m;
              }
              for (auto& m : *tenant_metrics) defs[m.id()] = m;
              std::vector<nlohmann::json> observations;
              for (const auto& m : page.measurements) {
                if (!metrics.empty() && metrics.count(m.metric()) == 0) continue;
                auto def = defs.find(m.metric());
                if (def == defs.end()) continue;
                observations.push_back(ToFhirObservation(m, def->second));
              }
              response->set_observation_count(static_cast<int32_t>(observations.size()));
              response->set_bundle_json(ToFhirBundle(std::move(observations)).dump());
              response->set_next_page_token(EncodePageToken(page.next_cursor, filters));
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      },
      deadline);
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Tenant settings

void MeasurementServiceHandler::ReadSettings(const std::string& tenant, absl::Time deadline,
                                             SettingsDone done) {
  store_.GetSettings(
      tenant,
      [this, tenant, done = std::move(done)](
          absl::StatusOr<std::optional<v1::MeasurementSettings>> stored) mutable {
        if (!stored.ok()) return done(stored.status());
        v1::MeasurementSettings settings = stored->has_value()
                                               ? **std::move(stored)
                                               : DefaultSettings(options_.progress.instruments);
        settings_.Put(tenant, settings, env_.clock->Now());
        done(std::move(settings));
      },
      deadline);
}

void MeasurementServiceHandler::TenantInstrumentConfig(const std::string& tenant,
                                                       absl::Time deadline, ConfigDone done) {
  if (auto cached = settings_.Find(tenant, env_.clock->Now()); cached.has_value()) {
    return done(InstrumentConfigFor(options_.progress.instruments, *cached));
  }
  ReadSettings(tenant, deadline,
               [this, done = std::move(done)](absl::StatusOr<v1::MeasurementSettings> s) mutable {
                 if (!s.ok()) return done(s.status());
                 done(InstrumentConfigFor(options_.progress.instruments, *s));
               });
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::GetMeasurementSettings(
    grpc::CallbackServerContext* ctx, const v1::GetMeasurementSettingsRequest* /*request*/,
    v1::MeasurementSettings* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.GetMeasurementSettings");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  // Always from the store: an admin checking a change must not see this replica's cached copy.
  ReadSettings(who->tenant, DeadlineOf(*ctx),
               [reactor, response](absl::StatusOr<v1::MeasurementSettings> settings) {
                 if (!settings.ok()) return Finish(reactor, settings.status());
                 *response = *std::move(settings);
                 Finish(reactor, absl::OkStatus());
               });
  return reactor;
}

grpc::ServerUnaryReactor* MeasurementServiceHandler::UpdateMeasurementSettings(
    grpc::CallbackServerContext* ctx, const v1::UpdateMeasurementSettingsRequest* request,
    v1::MeasurementSettings* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Admit(*ctx, "MeasurementService.UpdateMeasurementSettings");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  FieldViolations v;
  auto paths = ValidateSettingsMask(request->update_mask());
  if (!paths.ok()) v.Merge(paths.status());
  if (request->etag().empty()) v.Add("etag", "is required: send the etag of the settings you read");
  if (!v.empty()) return Finish(reactor, v.ToStatus()), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  // Read, apply the mask, write if the etag is still the one read (the script checks it again,
  // so a concurrent update makes one of the two ABORTED).
  ReadSettings(
      who->tenant, deadline,
      [this, reactor, response, who = *who, patch = request->settings(), etag = request->etag(),
       paths = *std::move(paths), deadline](absl::StatusOr<v1::MeasurementSettings> current) {
        if (!current.ok()) return Finish(reactor, current.status());
        if (current->etag() != etag) {
          return Finish(reactor, WithReason(absl::AbortedError("the settings have changed; read "
                                                               "them again and reapply"),
                                            "ETAG_MISMATCH"));
        }
        auto updated = ApplySettingsUpdate(options_.progress.instruments, *current, patch, paths);
        if (!updated.ok()) return Finish(reactor, updated.status());
        if (google::protobuf::util::MessageDifferencer::Equals(*updated, *current)) {
          *response = *current;  // nothing changed: no write, same etag
          return Finish(reactor, absl::OkStatus());
        }
        updated->set_etag(NextSettingsEtag(current->etag()));
        *updated->mutable_update_time() = ToProtoTimestamp(env_.clock->Now());
        *updated->mutable_updated_by() = who.ToActor();
        store_.WriteSettings(
            who.tenant, *updated, etag,
            [this, reactor, response, tenant = who.tenant,
             paths](absl::StatusOr<v1::MeasurementSettings> stored) {
              if (!stored.ok()) return Finish(reactor, stored.status());
              // This replica scores with the new settings from now on; others within the TTL.
              settings_.Put(tenant, *stored, env_.clock->Now());
              log::Info("measurement settings updated", {{"tenant", tenant},
                                                         {"fields", absl::StrJoin(paths, ",")},
                                                         {"etag", stored->etag()}});
              *response = *std::move(stored);
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      });
  return reactor;
}

// ---------------------------------------------------------------------------------------------

server::ServiceParts BuildMeasurementServiceWithOptions(const server::ServiceEnv& env,
                                                        MeasurementServiceOptions options) {
  server::ServiceParts parts;
  parts.services.push_back(std::make_unique<MeasurementServiceHandler>(env, std::move(options)));
  parts.health_names.push_back("trellis.v1.MeasurementService");
  return parts;
}

absl::Status DeliverWriteBack(const std::shared_ptr<grpc::Channel>& goals,
                              const auth::AuthOptions& auth, const outbox::Delivery& delivery,
                              absl::Duration timeout) {
  if (delivery.entry.kind != "SetAchievementStatus") {
    return absl::InvalidArgumentError(absl::StrCat("unknown effect ", delivery.entry.kind));
  }
  v1::SetAchievementStatusRequest request;
  if (!request.ParseFromString(delivery.entry.payload)) {
    return absl::InvalidArgumentError("malformed SetAchievementStatus effect");
  }
  grpc::ClientContext ctx;
  auth::PrepareServiceCall(ctx, auth, delivery.tenant, "trellis-measurements",
                           absl::Now() + timeout, outbox::OriginOf(delivery.entry));
  v1::SetAchievementStatusResponse response;
  auto stub = v1::GoalService::NewStub(goals);
  return FromGrpcStatus(stub->SetAchievementStatus(&ctx, request, &response));
}

server::ServiceParts BuildMeasurementService(const server::ServiceEnv& env) {
  MeasurementServiceOptions options;
  auto channel = server::PeerChannel(absl::GetFlag(FLAGS_goals_addr), env.peer_credentials);
  options.goals_channel = [channel] { return channel; };
  server::ServiceParts parts = BuildMeasurementServiceWithOptions(env, std::move(options));
  if (env.config != nullptr) {
    // Achievement write-backs reach the goal service through the outbox (DESIGN.md §4).
    outbox::RelayOptions relay;
    relay.service = "meas";
    relay.walk_interval = env.config->cluster_walk_interval;
    parts.workers.push_back(std::make_unique<outbox::OutboxRelay>(
        env.redis, env.clock, relay,
        [channel, auth = env.config->auth](const outbox::Delivery& d) {
          return DeliverWriteBack(channel, auth, d);
        },
        env.registry));
  }
  return parts;
}

}  // namespace trellis::measurements
