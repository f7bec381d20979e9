#pragma once

// The only code that knows the measurement service's Redis keys (DESIGN.md §5).
//
// Per patient, all in one hash-tag slot ("trellis:meas:{tenant:patient}"):
//   m:<id>               serialized trellis.v1.Measurement
//   series:<metric>      zset of measurement ids of one metric, score = observe time (ms)
//   all                  zset of all measurement ids, score = observe time (ms)
//   goal:<goal id>       zset of the ids recorded for one goal, score = observe time (ms)
//   val                  hash id -> value ("%.17g"): progress reads a window of values without
//                        decoding protobuf
//   latest               hash "t:<metric>" -> observe ms, "b:<metric>" -> serialized Measurement
//                        of the newest observation per metric (patient summary, O(1) per write),
//                        "n:<metric>" -> count of writes to the metric's series (the progress
//                        cache's version)
//   progress:<goal id>   the goal's last computed progress: "<tag>\n<computed ms>\n<payload>",
//                        valid while the tag (goal etag, settings, series version) still matches
//                        and for the cache's time to live; expires by itself
//   flag:<id>            serialized trellis.v1.SafetyFlag
//   flags                zset of flag ids, score = raise time (ms)
//   openflags            zset of the OPEN flag ids, score = raise time (ms)
//   events               stream of flag events integrators can read (XREAD); one entry per raised
//                        or acknowledged flag: kind, flag, measurement, metric, item (never the
//                        answer). It lives in the patient's slot, not in a per-tenant stream, so
//                        the flag, its event and the submission are one atomic script even on
//                        Redis Cluster. Trimmed to about kEventsMaxLen entries (XADD MAXLEN ~);
//                        the flags themselves (below) are kept for good.
//   req:<method>:<rid>   request_id record, expires: "<fingerprint>|@<measurement id>" for
//                        measurement writes (the response is the stored m:<id>, so it is not
//                        kept twice), "<fingerprint>|<serialized result>" for the others
//   outbox               list "id|SetAchievementStatus|<serialized SetAchievementStatusRequest>"
//                        (write-backs to the goal service; relayed by common/outbox)
//   wb:<goal id>         the achievement status last enqueued for a goal (dedupes the outbox)
// and, like every outbox in the suite, the patient's tag in trellis:meas:outbox:pending (the one
// key outside the patient's slot; see common/outbox/outbox.h for the Redis Cluster note).
// Per tenant ("trellis:meas:{tenant}"):
//   metric:<id>          serialized trellis.v1.Metric (immutable once defined)
//   metrics              zset of metric ids, score 0 (lexicographic order)
//   req:DefineMetric:<rid>
//   settings             hash etag -> "r<n>", blob -> serialized trellis.v1.MeasurementSettings
//                        (absent until a tenant admin first changes them: the defaults apply)
//   flags                zset "<patient>/<flag id>", score = raise time (ms): the tenant-wide
//                        safety-flag log. Another slot than the patient's, so it is written
//                        just BEFORE the patient's script; a reader skips entries whose flag was
//                        never written (a failed or replayed submission), so the log never misses
//                        a stored flag and never shows one that does not exist.
// Read only: trellis:cache:{tenant:patient}:goal:<id>, the shared goal cache kept by GoalStore.
//
// Every write is one EVALSHA: request id check, values, indexes, flags, events and the request
// record change together or not at all. Nothing on the write path depends on history length.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/audit/audit.h"
#include "common/redis/client.h"
#include "common/trace/trace.h"
#include "services/measurements/domain/progress.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

struct WriteResult {
  bool replayed = false;  // true: an earlier call with this request_id; `result` is its response
  std::string result;     // the serialized response of that earlier call (the Measurement)
};

struct MeasurementWrite {
  std::string tenant;
  trellis::v1::Measurement measurement;  // complete (name, times, flags filled)
  std::vector<trellis::v1::SafetyFlag> flags;
  std::string method;
  std::string request_id;
  std::string fingerprint;
  // The call's audit entry, written with the measurement (null: none).
  std::shared_ptr<audit::Note> audit;
};

struct MeasurementQuery {
  std::string metric;               // empty: all
  std::string goal_id;              // empty: any
  std::optional<int64_t> start_ms;  // inclusive
  std::optional<int64_t> end_ms;    // exclusive
  bool newest_first = true;
  int page_size = 100;
  std::string cursor;  // "<score>|<id>" or empty
};

struct MeasurementPage {
  std::vector<trellis::v1::Measurement> measurements;
  std::string next_cursor;
};

struct SafetyFlagPage {
  std::vector<trellis::v1::SafetyFlag> flags;
  std::string next_cursor;
};

// A progress read: the cached computation when it is still valid, else the window to compute it.
struct ProgressRead {
  std::optional<std::string> cached;  // the payload stored by StoreProgress
  ProgressSeries series;              // when not cached
  std::string tag;                    // what StoreProgress must store the new result under
};

// What a dashboard needs in one read: latest measurement per metric, open flags, and a bounded
// window per metric.
struct SummaryData {
  std::vector<trellis::v1::Measurement> latest;
  std::vector<trellis::v1::SafetyFlag> open_flags;  // oldest first
  absl::flat_hash_map<std::string, ProgressSeries> windows;
};

class MeasurementStore {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  static constexpr absl::Duration kRequestIdTtl = absl::Hours(48);
  // Points read for a progress computation (a bounded window; DESIGN.md §8).
  static constexpr int kProgressWindow = 1000;
  static constexpr int kMaxTenantMetrics = 5000;
  static constexpr int kEventsMaxLen = 10000;

  explicit MeasurementStore(redis::RedisClient* redis) : redis_(redis) {}

  // ---- tenant metrics ----
  // Stores `metric` unless the id exists. Result: the stored metric (the existing one when the
  // id was taken: the caller compares definitions) plus whether it was newly written.
  struct DefineResult {
    bool created = false;
    bool replayed = false;
    trellis::v1::Metric metric;
  };
  void DefineMetric(const std::string& tenant, const trellis::v1::Metric& metric,
                    const std::string& request_id, const std::string& fingerprint,
                    Callback<DefineResult> done, absl::Time deadline);
  // A built-in or the tenant's metric; NOT_FOUND otherwise. Tenant metrics are immutable, so
  // they are cached in-process after the first read.
  void GetMetric(const std::string& tenant, const std::string& id,
                 Callback<trellis::v1::Metric> done, absl::Time deadline);
  // The tenant's metrics by id (at most kMaxTenantMetrics).
  void ListTenantMetrics(const std::string& tenant, Callback<std::vector<trellis::v1::Metric>> done,
                         absl::Time deadline);

  // ---- tenant settings ----
  // The tenant's measurement settings as last written; nullopt when it never changed them.
  void GetSettings(const std::string& tenant,
                   Callback<std::optional<trellis::v1::MeasurementSettings>> done,
                   absl::Time deadline);
  // Stores `settings` (carrying its new etag) if the stored etag is still `expected_etag` (the
  // default etag for a tenant without settings); ABORTED reason ETAG_MISMATCH otherwise.
  // Returns `settings` as stored.
  void WriteSettings(const std::string& tenant, const trellis::v1::MeasurementSettings& settings,
                     const std::string& expected_etag,
                     Callback<trellis::v1::MeasurementSettings> done, absl::Time deadline);

  // ---- measurements ----
  void WriteMeasurement(MeasurementWrite write, Callback<WriteResult> done, absl::Time deadline);
  void ListMeasurements(const std::string& tenant, const std::string& patient,
                        const MeasurementQuery& query, Callback<MeasurementPage> done,
                        absl::Time deadline);
  // A goal's progress through its cache: when the cache of `goal_id` holds a result stored under
  // `tag_prefix` and the series' current version, computed less than `ttl` before `now`, that
  // payload; else the window: the newest kProgressWindow points of `metric` (ascending) plus the
  // first point at or after `start_ms` (ttl 0: always the window).
  void ReadProgress(const std::string& tenant, const std::string& patient,
                    const std::string& metric, const std::string& goal_id, int64_t start_ms,
                    const std::string& tag_prefix, absl::Time now, absl::Duration ttl,
                    Callback<ProgressRead> done, absl::Time deadline);
  // Caches `payload` as the progress of `goal_id` computed at `computed` under `tag` (from
  // ReadProgress); Redis drops it after twice `ttl`.
  void StoreProgress(const std::string& tenant, const std::string& patient,
                     const std::string& goal_id, const std::string& tag, absl::Time computed,
                     const std::string& payload, absl::Duration ttl, Callback<bool> done,
                     absl::Time deadline);
  // Latest per metric, open flags, and windows of `metrics`.
  void ReadSummary(const std::string& tenant, const std::string& patient,
                   const std::vector<std::string>& metrics, Callback<SummaryData> done,
                   absl::Time deadline);

  // ---- safety flags ----
  void ListSafetyFlags(const std::string& tenant, const std::string& patient, bool open_only,
                       int64_t start_ms, int page_size, const std::string& cursor,
                       Callback<SafetyFlagPage> done, absl::Time deadline);
  // Adds flags to the tenant-wide log (call before WriteMeasurement stores them).
  void IndexTenantFlags(const std::string& tenant,
                        const std::vector<trellis::v1::SafetyFlag>& flags, Callback<bool> done,
                        absl::Time deadline);
  // The tenant-wide log, oldest first; entries whose flag does not exist are skipped.
  void ListTenantSafetyFlags(const std::string& tenant, bool open_only, int64_t start_ms,
                             int page_size, const std::string& cursor,
                             Callback<SafetyFlagPage> done, absl::Time deadline);
  // One flag; NOT_FOUND when absent.
  void GetSafetyFlag(const std::string& tenant, const std::string& patient,
                     const std::string& flag_id, Callback<trellis::v1::SafetyFlag> done,
                     absl::Time deadline);
  // Applies `ack` (state, acknowledged_by/time/note, etag, update_time) to the flag unless it is
  // already acknowledged; returns the stored flag. NOT_FOUND when absent.
  void AcknowledgeSafetyFlag(const std::string& tenant, const std::string& patient,
                             const std::string& flag_id, const trellis::v1::SafetyFlag& ack,
                             std::shared_ptr<audit::Note> audit,
                             Callback<trellis::v1::SafetyFlag> done, absl::Time deadline);

  // ---- goals (shared cache; write-back outbox) ----
  // The goal from the shared cache; nullopt on a miss.
  void ReadCachedGoal(const std::string& tenant, const std::string& patient,
                      const std::string& goal_id, Callback<std::optional<trellis::v1::Goal>> done,
                      absl::Time deadline);
  // Records an outbox entry for `request` (request_id = entry id) unless the last entry enqueued
  // for the goal carried the same `dedupe` value (the caller's "suggestion for this revision of
  // the goal"). The entry carries `origin`, the trace of the call that found the suggestion.
  // Returns true when an entry was added.
  void EnqueueWriteBack(const std::string& tenant, const std::string& patient,
                        const std::string& goal_id,
                        const trellis::v1::SetAchievementStatusRequest& request,
                        const std::string& dedupe, const trace::CallContext& origin,
                        Callback<bool> done, absl::Time deadline);

 private:
  redis::RedisClient* redis_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, trellis::v1::Metric> metric_cache_ ABSL_GUARDED_BY(mu_);
};

// Milliseconds since the epoch (the series score).
int64_t ToMillis(absl::Time t);

}  // namespace trellis::measurements
