#pragma once

// Conversions between trellis.v1 reminder messages and the domain types, shared by the handlers
// and the dispatcher.

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/reminders/domain/dispatch_plan.h"
#include "services/reminders/domain/schedule.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::reminders {

google::protobuf::Timestamp ToProto(absl::Time t);
absl::Time ToTime(const google::protobuf::Timestamp& ts);

// The schedule fields, copied without interpretation (ReminderSchedule validates them).
ScheduleSpec SpecOf(const trellis::v1::Schedule& s);

// The reminder's pause window (none when it has no pause with a start).
PauseWindow PauseOf(const trellis::v1::Reminder& r);

}  // namespace trellis::reminders
