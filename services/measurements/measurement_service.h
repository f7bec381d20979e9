#pragma once

// The gRPC edge of trellis.v1.MeasurementService: authenticate, validate (domain), call the store,
// map the status. Handlers never block: every store and peer call completes the reactor from its
// callback.
//
// Known deviations from the proto comments:
//   ListSafetyFlags without `patient` and with open_only may return short pages.

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "common/auth/authenticator.h"
#include "common/clinical/instruments.h"
#include "common/outbox/relay.h"
#include "common/server/run.h"
#include "common/trace/trace.h"
#include "services/measurements/domain/measurement_validation.h"
#include "services/measurements/domain/progress.h"
#include "services/measurements/settings_cache.h"
#include "services/measurements/store/measurement_store.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"

namespace trellis::measurements {

struct MeasurementServiceOptions {
  ProgressConfig progress;
  RecordingLimits limits;
  // The channel to GoalService (GetGoal on a cache miss, ListGoals for the summary). Called per
  // peer call; the production factory returns one shared channel.
  std::function<std::shared_ptr<grpc::Channel>()> goals_channel;
  // Longest wait for GoalService (also capped by the caller's deadline).
  absl::Duration peer_timeout = absl::Seconds(2);
  // Writes of one BatchRecordMeasurements stream in flight at once (they start once the client
  // half-closes the stream).
  int batch_in_flight = 32;
  // How long a replica scores with a tenant's MeasurementSettings before reading them again: a
  // change made through another replica reaches this one within this time (the proto contract of
  // UpdateMeasurementSettings says 30 seconds).
  absl::Duration settings_ttl = absl::Seconds(30);
  // How long a computed GoalProgress may be served again while the goal, the series and the
  // settings are unchanged (any change invalidates it at once); its compute_time says when it was
  // computed. Only the time-dependent parts (on-track line, stalled and trend windows ending
  // "now") can lag by up to this. Zero: every read computes.
  absl::Duration progress_cache_ttl = absl::Seconds(60);
};

// What one stored write produced (RecordMeasurement, SubmitQuestionnaire, a batch item).
struct RecordOutcome {
  trellis::v1::Measurement measurement;
  bool replayed = false;
};

class MeasurementServiceHandler final : public trellis::v1::MeasurementService::CallbackService {
 public:
  MeasurementServiceHandler(const server::ServiceEnv& env, MeasurementServiceOptions options);

  grpc::ServerUnaryReactor* ListInstruments(
      grpc::CallbackServerContext* ctx, const trellis::v1::ListInstrumentsRequest* request,
      trellis::v1::ListInstrumentsResponse* response) override;
  grpc::ServerUnaryReactor* GetMetric(grpc::CallbackServerContext* ctx,
                                      const trellis::v1::GetMetricRequest* request,
                                      trellis::v1::Metric* response) override;
  grpc::ServerUnaryReactor* DefineMetric(grpc::CallbackServerContext* ctx,
                                         const trellis::v1::DefineMetricRequest* request,
                                         trellis::v1::Metric* response) override;
  grpc::ServerUnaryReactor* RecordMeasurement(grpc::CallbackServerContext* ctx,
                                              const trellis::v1::RecordMeasurementRequest* request,
                                              trellis::v1::Measurement* response) override;
  grpc::ServerUnaryReactor* SubmitQuestionnaire(
      grpc::CallbackServerContext* ctx, const trellis::v1::SubmitQuestionnaireRequest* request,
      trellis::v1::SubmitQuestionnaireResponse* response) override;
  grpc::ServerReadReactor<trellis::v1::BatchRecordMeasurementsRequest>* BatchRecordMeasurements(
      grpc::CallbackServerContext* ctx,
      trellis::v1::BatchRecordMeasurementsResponse* response) override;
  grpc::ServerUnaryReactor* ListMeasurements(
      grpc::CallbackServerContext* ctx, const trellis::v1::ListMeasurementsRequest* request,
      trellis::v1::ListMeasurementsResponse* response) override;
  grpc::ServerUnaryReactor* GetGoalProgress(grpc::CallbackServerContext* ctx,
                                            const trellis::v1::GetGoalProgressRequest* request,
                                            trellis::v1::GoalProgress* response) override;
  grpc::ServerUnaryReactor* GetPatientSummary(grpc::CallbackServerContext* ctx,
                                              const trellis::v1::GetPatientSummaryRequest* request,
                                              trellis::v1::PatientSummary* response) override;
  grpc::ServerUnaryReactor* ListSafetyFlags(
      grpc::CallbackServerContext* ctx, const trellis::v1::ListSafetyFlagsRequest* request,
      trellis::v1::ListSafetyFlagsResponse* response) override;
  grpc::ServerUnaryReactor* AcknowledgeSafetyFlag(
      grpc::CallbackServerContext* ctx, const trellis::v1::AcknowledgeSafetyFlagRequest* request,
      trellis::v1::SafetyFlag* response) override;
  grpc::ServerUnaryReactor* ExportObservationsFhir(
      grpc::CallbackServerContext* ctx, const trellis::v1::ExportObservationsFhirRequest* request,
      trellis::v1::ExportObservationsFhirResponse* response) override;
  grpc::ServerUnaryReactor* GetMeasurementSettings(
      grpc::CallbackServerContext* ctx, const trellis::v1::GetMeasurementSettingsRequest* request,
      trellis::v1::MeasurementSettings* response) override;
  grpc::ServerUnaryReactor* UpdateMeasurementSettings(
      grpc::CallbackServerContext* ctx,
      const trellis::v1::UpdateMeasurementSettingsRequest* request,
      trellis::v1::MeasurementSettings* response) override;

  // ---- shared by the unary RPCs and the batch stream ----
  using RecordDone = absl::AnyInvocable<void(absl::StatusOr<RecordOutcome>)>;
  // Validates and stores one measurement for `who` (already authenticated).
  void Record(const auth::Identity& who, const trellis::v1::RecordMeasurementRequest& request,
              absl::Time deadline, RecordDone done);
  // Validates, scores and stores one questionnaire for `who`.
  void Submit(const auth::Identity& who, const trellis::v1::SubmitQuestionnaireRequest& request,
              absl::Time deadline, RecordDone done);
  // Admission (server::Admit) for handlers that validate the request themselves afterwards.
  absl::StatusOr<auth::Identity> Admit(const grpc::CallbackServerContext& ctx,
                                       absl::string_view method,
                                       absl::string_view patient = "") const;

 private:
  using SettingsDone = absl::AnyInvocable<void(absl::StatusOr<trellis::v1::MeasurementSettings>)>;
  using ConfigDone = absl::AnyInvocable<void(absl::StatusOr<clinical::InstrumentConfig>)>;
  // The tenant's settings from the store (the defaults when it never changed them); refreshes
  // the settings cache.
  void ReadSettings(const std::string& tenant, absl::Time deadline, SettingsDone done);
  // The instrument configuration of `tenant`: the service's defaults with the tenant's settings
  // applied, from the settings cache (options.settings_ttl) or the store.
  void TenantInstrumentConfig(const std::string& tenant, absl::Time deadline, ConfigDone done);
  // Scores and stores a questionnaire whose request passed Submit's checks, with `config`.
  void ScoreAndStore(const auth::Identity& who,
                     const trellis::v1::SubmitQuestionnaireRequest& request,
                     const trellis::v1::Metric& builtin, const clinical::InstrumentConfig& config,
                     absl::Time deadline, RecordDone done);

  using GoalDone = absl::AnyInvocable<void(absl::StatusOr<trellis::v1::Goal>)>;
  using GoalsDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<trellis::v1::Goal>>)>;
  // The goal from the shared cache, or on a miss from GoalService over gRPC. Calls to GoalService
  // continue the trace of `origin` (the served call's Identity::trace).
  void FetchGoal(const std::string& tenant, const std::string& patient, const std::string& goal_id,
                 const trace::CallContext& origin, absl::Time deadline, GoalDone done);
  void PeerGetGoal(const std::string& tenant, const std::string& name,
                   const trace::CallContext& origin, absl::Time deadline, GoalDone done);
  void PeerListActiveGoals(const std::string& tenant, const std::string& patient,
                           const trace::CallContext& origin, absl::Time deadline, GoalsDone done);
  // Stores `write` once its goal (if any) is known to exist: NOT_FOUND naming `field` otherwise.
  void CheckGoalThenWrite(std::string field, MeasurementWrite write,
                          const trace::CallContext& origin,
                          MeasurementStore::Callback<WriteResult> done, absl::Time deadline);
  // Service token, deadline and trace for a call to GoalService on behalf of `tenant`.
  void PreparePeerCall(grpc::ClientContext& ctx, const std::string& tenant,
                       const trace::CallContext& origin, absl::Time deadline) const;
  std::shared_ptr<grpc::Channel> GoalsChannel();

  server::ServiceEnv env_;
  MeasurementServiceOptions options_;
  MeasurementStore store_;
  SettingsCache settings_;
  ProgressCalculator calculator_;
  // The built-in instruments with the service's instrument settings applied, by id.
  absl::flat_hash_map<std::string, std::shared_ptr<const trellis::v1::Metric>>
      configured_builtins_;
  // Identifies the progress settings (thresholds, windows, instrument settings) in the progress
  // cache's tags, so that a replica with other settings never serves another's results.
  std::string config_tag_;
};

// Delivers one of this service's outbox entries (kind "SetAchievementStatus") to GoalService with
// a service token of the entry's tenant. Runs on the outbox relay's thread, so it blocks.
// OK once the goal service confirmed; its status otherwise (UNAVAILABLE is retried by the relay).
absl::Status DeliverWriteBack(const std::shared_ptr<grpc::Channel>& goals,
                              const auth::AuthOptions& auth, const outbox::Delivery& delivery,
                              absl::Duration timeout = absl::Seconds(5));

// Everything this service runs in its process (reads --goals_addr): the handler and the relay
// that delivers achievement write-backs.
server::ServiceParts BuildMeasurementService(const server::ServiceEnv& env);
// The same with explicit options (tests).
server::ServiceParts BuildMeasurementServiceWithOptions(const server::ServiceEnv& env,
                                                        MeasurementServiceOptions options);

}  // namespace trellis::measurements
