#pragma once

// A tenant's measurement settings (trellis.v1.MeasurementSettings): which clinical settings of
// the built-in questionnaires a tenant admin may change, how an update mask applies them, and how
// they overlay the service's defaults. Pure values: storage, caching and roles live elsewhere.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clinical/instruments.h"
#include "google/protobuf/field_mask.pb.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

// The resource name of a tenant's settings (one per tenant: the caller's, from its token).
inline constexpr absl::string_view kSettingsName = "measurementSettings";
// The etag of settings a tenant never changed.
inline constexpr absl::string_view kDefaultSettingsEtag = "r0";

// The settings of a tenant that never changed them: the service's defaults, etag "r0".
trellis::v1::MeasurementSettings DefaultSettings(const clinical::InstrumentConfig& defaults);

// `defaults` with the tenant's settings applied: what scoring and the instrument listing use for
// that tenant.
clinical::InstrumentConfig InstrumentConfigFor(const clinical::InstrumentConfig& defaults,
                                               const trellis::v1::MeasurementSettings& settings);

// Checks an UpdateMeasurementSettings mask and returns its distinct paths. Accepted:
// "proration_enabled", "phq9_max_missing_items", "gad7_max_missing_items". An empty mask, "*",
// unknown and output-only fields (name, etag, update_time, updated_by) are INVALID_ARGUMENT
// naming "update_mask", every bad path in one status.
absl::StatusOr<std::vector<std::string>> ValidateSettingsMask(
    const google::protobuf::FieldMask& mask);

// `current` with the masked fields taken from `patch` (paths from ValidateSettingsMask). The
// result must be a valid configuration over `defaults` (ValidateInstrumentConfig: PHQ-9 0..8
// missing items, since item 9 is never prorated; GAD-7 0..6), else INVALID_ARGUMENT naming
// "settings.<field>". Output-only fields are as in `current`.
absl::StatusOr<trellis::v1::MeasurementSettings> ApplySettingsUpdate(
    const clinical::InstrumentConfig& defaults, const trellis::v1::MeasurementSettings& current,
    const trellis::v1::MeasurementSettings& patch, const std::vector<std::string>& paths);

// The revision an etag stands for ("r<n>" -> n), or -1 when it is not a settings etag.
int64_t SettingsRevision(absl::string_view etag);

// The etag of the revision after `etag`'s ("r<n>" -> "r<n+1>"; not a settings etag -> "r1").
std::string NextSettingsEtag(absl::string_view etag);

}  // namespace trellis::measurements
