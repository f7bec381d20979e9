#pragma once

// The gRPC edge of trellis.v1.ReminderService: authenticate, validate (domain), call the store,
// map the status. Handlers never block: every store call completes the reactor from its callback.
// Reminder text and notes are never logged.
//
// StreamDueReminders and AckDelivery are served by DeliveryStreams (delivery_stream.h); the
// Dispatcher (dispatcher.h) runs beside them in every replica.

#include <functional>
#include <memory>
#include <string>

#include "common/auth/authenticator.h"
#include "common/outbox/relay.h"
#include "common/server/run.h"
#include "services/reminders/delivery_stream.h"
#include "services/reminders/dispatcher.h"
#include "services/reminders/domain/schedule.h"
#include "services/reminders/peers.h"
#include "services/reminders/store/reminder_store.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::reminders {

struct ReminderServiceOptions {
  ScheduleOptions schedule;
  // How far in the past PauseReminder.start_time may lie (clock skew between callers and us).
  absl::Duration clock_skew = absl::Minutes(1);
  DeliveryOptions delivery;
  DispatcherOptions dispatch;
  // GoalService and MeasurementService, for checking a reminder's goal and metric.
  PeerOptions peers;
  // Tests that drive a Dispatcher themselves (RunOnce with an injected clock) turn this off.
  bool run_dispatcher = true;
};

// The options the flags (and their TRELLIS_* environment twins) set.
ReminderServiceOptions ReminderOptionsFromFlags();

class ReminderServiceHandler final : public trellis::v1::ReminderService::CallbackService {
 public:
  // `streams` serves StreamDueReminders and AckDelivery; not owned (a worker of the same parts).
  ReminderServiceHandler(const server::ServiceEnv& env, ReminderServiceOptions options,
                         DeliveryStreams* streams);

  grpc::ServerUnaryReactor* CreateReminder(grpc::CallbackServerContext* ctx,
                                           const trellis::v1::CreateReminderRequest* request,
                                           trellis::v1::Reminder* response) override;
  grpc::ServerUnaryReactor* GetReminder(grpc::CallbackServerContext* ctx,
                                        const trellis::v1::GetReminderRequest* request,
                                        trellis::v1::Reminder* response) override;
  grpc::ServerUnaryReactor* ListReminders(grpc::CallbackServerContext* ctx,
                                          const trellis::v1::ListRemindersRequest* request,
                                          trellis::v1::ListRemindersResponse* response) override;
  grpc::ServerUnaryReactor* UpdateReminder(grpc::CallbackServerContext* ctx,
                                           const trellis::v1::UpdateReminderRequest* request,
                                           trellis::v1::Reminder* response) override;
  grpc::ServerUnaryReactor* DeleteReminder(grpc::CallbackServerContext* ctx,
                                           const trellis::v1::DeleteReminderRequest* request,
                                           trellis::v1::Reminder* response) override;
  grpc::ServerUnaryReactor* PauseReminder(grpc::CallbackServerContext* ctx,
                                          const trellis::v1::PauseReminderRequest* request,
                                          trellis::v1::Reminder* response) override;
  grpc::ServerUnaryReactor* ResumeReminder(grpc::CallbackServerContext* ctx,
                                           const trellis::v1::ResumeReminderRequest* request,
                                           trellis::v1::Reminder* response) override;
  grpc::ServerUnaryReactor* PreviewSchedule(
      grpc::CallbackServerContext* ctx, const trellis::v1::PreviewScheduleRequest* request,
      trellis::v1::PreviewScheduleResponse* response) override;
  grpc::ServerUnaryReactor* RecordCompletion(grpc::CallbackServerContext* ctx,
                                             const trellis::v1::RecordCompletionRequest* request,
                                             trellis::v1::Completion* response) override;
  grpc::ServerUnaryReactor* GetAdherence(grpc::CallbackServerContext* ctx,
                                         const trellis::v1::GetAdherenceRequest* request,
                                         trellis::v1::AdherenceReport* response) override;
  grpc::ServerWriteReactor<trellis::v1::Delivery>* StreamDueReminders(
      grpc::CallbackServerContext* ctx,
      const trellis::v1::StreamDueRemindersRequest* request) override;
  grpc::ServerUnaryReactor* AckDelivery(grpc::CallbackServerContext* ctx,
                                        const trellis::v1::AckDeliveryRequest* request,
                                        trellis::v1::AckDeliveryResponse* response) override;
  grpc::ServerUnaryReactor* AckDeliveries(grpc::CallbackServerContext* ctx,
                                          const trellis::v1::AckDeliveriesRequest* request,
                                          trellis::v1::AckDeliveriesResponse* response) override;
  grpc::ServerUnaryReactor* EndGoalReminders(
      grpc::CallbackServerContext* ctx, const trellis::v1::EndGoalRemindersRequest* request,
      trellis::v1::EndGoalRemindersResponse* response) override;

 private:
  // The read-check-write shape of Update/Delete/Pause/Resume: reads the reminder, lets `decide`
  // compute the new value (or an error, or "unchanged"), writes it at the read revision.
  struct Decision;
  using Decide = std::function<absl::StatusOr<Decision>(const StoredReminder&, absl::Time now)>;
  void Modify(grpc::ServerUnaryReactor* reactor, trellis::v1::Reminder* response,
              const auth::Identity& who, const std::string& patient, const std::string& id,
              absl::Time deadline, Decide decide);

  // The admission of the delivery RPCs (tenant-level: no patient).
  absl::StatusOr<auth::Identity> AdmitService(const grpc::CallbackServerContext& ctx,
                                              absl::string_view method,
                                              const absl::Status& validation) const;

  // UpdateReminder after its peer checks.
  void ModifyForUpdate(grpc::ServerUnaryReactor* reactor,
                       const trellis::v1::UpdateReminderRequest* request,
                       trellis::v1::Reminder* response, const auth::Identity& who,
                       const std::string& patient, const std::string& id,
                       const std::vector<std::string>& paths, std::optional<int64_t> expected,
                       absl::Time deadline);

  server::ServiceEnv env_;
  ReminderServiceOptions options_;
  ReminderStore store_;
  DeliveryStreams* streams_;
  ReminderPeers peers_;
};

// Everything this service runs in its process, configured by the flags.
server::ServiceParts BuildReminderService(const server::ServiceEnv& env);
// The kind of the outbox entry that records a homework completion's value in MeasurementService.
inline constexpr absl::string_view kRecordMeasurementEffect = "RecordMeasurement";

// Delivers one outbox entry of this service (the relay's DeliverFn): RecordMeasurement on
// MeasurementService with a service token of the entry's tenant.
absl::Status DeliverEffect(const std::shared_ptr<grpc::Channel>& measurements,
                           const auth::AuthOptions& auth, const outbox::Delivery& delivery,
                           absl::Duration timeout = absl::Seconds(5));

// The same with explicit options (tests).
server::ServiceParts BuildReminderServiceWith(const server::ServiceEnv& env,
                                              ReminderServiceOptions options);

}  // namespace trellis::reminders
