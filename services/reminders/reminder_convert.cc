#include "services/reminders/reminder_convert.h"

namespace trellis::reminders {

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(
      static_cast<int32_t>((t - absl::FromUnixSeconds(ts.seconds())) / absl::Nanoseconds(1)));
  return ts;
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

ScheduleSpec SpecOf(const trellis::v1::Schedule& s) {
  auto local = [](const trellis::v1::LocalDateTime& l) {
    return LocalDateTime{l.year(), l.month(), l.day(), l.hours(), l.minutes(), l.seconds()};
  };
  ScheduleSpec spec;
  spec.start = local(s.start());
  spec.time_zone = s.time_zone();
  spec.rrule = s.rrule();
  for (const auto& e : s.exdates()) spec.exdates.push_back(local(e));
  return spec;
}

PauseWindow PauseOf(const trellis::v1::Reminder& r) {
  PauseWindow w;
  if (!r.has_pause() || !r.pause().has_start_time()) return w;
  w.start = ToTime(r.pause().start_time());
  if (r.pause().has_end_time()) w.end = ToTime(r.pause().end_time());
  return w;
}

}  // namespace trellis::reminders
