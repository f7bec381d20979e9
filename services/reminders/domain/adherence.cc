#include "services/reminders/domain/adherence.h"

#include <algorithm>
#include <utility>

#include "common/status/status.h"

namespace trellis::reminders {
namespace {

// What an occurrence counts as at `now`.
enum class Resolution { kDone, kSkipped, kMissed, kPending, kSkippedPaused };

Resolution Resolve(const OccurrenceRecord& record, absl::Time now,
                   absl::Duration completion_window) {
  switch (record.state) {
    case OccurrenceState::kDone:
      return Resolution::kDone;
    case OccurrenceState::kSkipped:
      return Resolution::kSkipped;
    case OccurrenceState::kMissed:
      return Resolution::kMissed;
    case OccurrenceState::kSkippedPaused:
      return Resolution::kSkippedPaused;
    case OccurrenceState::kScheduled:
    case OccurrenceState::kDelivered:
    case OccurrenceState::kSnoozed:
      break;
  }
  return now < record.scheduled_time + completion_window ? Resolution::kPending
                                                         : Resolution::kMissed;
}

struct Resolved {
  absl::Time scheduled_time;
  Resolution resolution;
};

void Count(const OccurrenceRecord& record, Resolution resolution, AdherenceCounts* counts) {
  switch (resolution) {
    case Resolution::kDone:
      ++counts->done;
      break;
    case Resolution::kSkipped:
      ++counts->skipped;
      break;
    case Resolution::kMissed:
      ++counts->missed;
      break;
    case Resolution::kPending:
      ++counts->pending;
      break;
    case Resolution::kSkippedPaused:
      ++counts->skipped_paused;
      break;
  }
  if (record.snoozed || record.state == OccurrenceState::kSnoozed) ++counts->snoozed;
}

void Finish(AdherenceCounts* counts) {
  counts->scheduled = counts->done + counts->skipped + counts->missed + counts->pending;
  const int resolved = counts->done + counts->skipped + counts->missed;
  if (resolved > 0) {
    counts->adherence_rate = static_cast<double>(counts->done) / static_cast<double>(resolved);
  } else {
    counts->adherence_rate.reset();
  }
}

void Add(const AdherenceCounts& from, AdherenceCounts* to) {
  to->done += from.done;
  to->skipped += from.skipped;
  to->missed += from.missed;
  to->pending += from.pending;
  to->skipped_paused += from.skipped_paused;
  to->snoozed += from.snoozed;
}

int Streak(std::vector<Resolved> resolved) {
  // Most recent first; at the same instant a non-done occurrence first (see adherence.h).
  std::sort(resolved.begin(), resolved.end(), [](const Resolved& a, const Resolved& b) {
    if (a.scheduled_time != b.scheduled_time) return a.scheduled_time > b.scheduled_time;
    return (a.resolution != Resolution::kDone) && (b.resolution == Resolution::kDone);
  });
  int streak = 0;
  for (const Resolved& r : resolved) {
    if (r.resolution == Resolution::kPending || r.resolution == Resolution::kSkippedPaused) {
      continue;
    }
    if (r.resolution != Resolution::kDone) break;
    ++streak;
  }
  return streak;
}

}  // namespace

absl::StatusOr<AdherenceWindow> MakeAdherenceWindow(std::optional<absl::Time> start,
                                                    std::optional<absl::Time> end, absl::Time now) {
  if (!start.has_value()) return InvalidField("interval.start_time", "is required");
  AdherenceWindow window{*start, end.value_or(now)};
  if (window.end < window.start) {
    return InvalidField(end.has_value() ? "interval.end_time" : "interval.start_time",
                        end.has_value() ? "is before start_time" : "is in the future");
  }
  if (window.end - window.start > kMaxAdherenceWindow) {
    return InvalidField("interval", "is longer than 366 days");
  }
  return window;
}

AdherenceReport ComputeAdherence(const std::vector<ReminderOccurrences>& reminders,
                                 const AdherenceWindow& window, absl::Time now,
                                 absl::Duration completion_window) {
  AdherenceReport report;
  std::vector<Resolved> all;
  for (const ReminderOccurrences& reminder : reminders) {
    ReminderAdherence entry;
    entry.reminder = reminder.reminder;
    std::vector<Resolved> own;
    for (const OccurrenceRecord& record : reminder.occurrences) {
      if (record.scheduled_time < window.start || record.scheduled_time >= window.end) continue;
      const Resolution resolution = Resolve(record, now, completion_window);
      Count(record, resolution, &entry.counts);
      own.push_back({record.scheduled_time, resolution});
    }
    Finish(&entry.counts);
    Add(entry.counts, &report.totals);
    entry.current_streak = Streak(own);
    all.insert(all.end(), own.begin(), own.end());
    report.reminders.push_back(std::move(entry));
  }
  Finish(&report.totals);
  report.current_streak = Streak(std::move(all));
  return report;
}

}  // namespace trellis::reminders
