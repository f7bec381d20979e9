#include "services/measurements/domain/tenant_settings.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status/status.h"
#include "google/protobuf/util/field_mask_util.h"

namespace trellis::measurements {
namespace {

namespace v1 = ::trellis::v1;
using google::protobuf::FieldMask;

constexpr absl::string_view kMaskField = "update_mask";
// The writable fields, in MeasurementSettings field order.
constexpr absl::string_view kWritable[] = {"proration_enabled", "phq9_max_missing_items",
                                           "gad7_max_missing_items"};

bool IsWritable(absl::string_view path) {
  return std::find(std::begin(kWritable), std::end(kWritable), path) != std::end(kWritable);
}

}  // namespace

v1::MeasurementSettings DefaultSettings(const clinical::InstrumentConfig& defaults) {
  v1::MeasurementSettings settings;
  settings.set_name(std::string(kSettingsName));
  settings.set_proration_enabled(defaults.proration_enabled);
  settings.set_phq9_max_missing_items(defaults.phq9_max_missing_items);
  settings.set_gad7_max_missing_items(defaults.gad7_max_missing_items);
  settings.set_etag(std::string(kDefaultSettingsEtag));
  return settings;
}

clinical::InstrumentConfig InstrumentConfigFor(const clinical::InstrumentConfig& defaults,
                                               const v1::MeasurementSettings& settings) {
  clinical::InstrumentConfig config = defaults;
  config.proration_enabled = settings.proration_enabled();
  config.phq9_max_missing_items = settings.phq9_max_missing_items();
  config.gad7_max_missing_items = settings.gad7_max_missing_items();
  return config;
}

absl::StatusOr<std::vector<std::string>> ValidateSettingsMask(const FieldMask& mask) {
  if (mask.paths_size() == 0) {
    return InvalidField(kMaskField, "is required: name the settings to change");
  }
  FieldViolations violations;
  std::vector<std::string> paths;
  for (const std::string& path : mask.paths()) {
    if (!IsWritable(path)) {
      violations.Add(
          kMaskField,
          absl::StrCat("\"", path, "\" is not a writable setting (writable: ",
                       "proration_enabled, phq9_max_missing_items, ", "gad7_max_missing_items)"));
    } else if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
      paths.push_back(path);
    }
  }
  if (!violations.empty()) return violations.ToStatus();
  return paths;
}

absl::StatusOr<v1::MeasurementSettings> ApplySettingsUpdate(
    const clinical::InstrumentConfig& defaults, const v1::MeasurementSettings& current,
    const v1::MeasurementSettings& patch, const std::vector<std::string>& paths) {
  v1::MeasurementSettings updated = current;
  FieldMask mask;
  for (const std::string& path : paths) mask.add_paths(path);
  google::protobuf::util::FieldMaskUtil::MergeMessageTo(patch, mask, {}, &updated);
  FieldViolations violations;
  violations.Merge(clinical::ValidateInstrumentConfig(InstrumentConfigFor(defaults, updated)),
                   "settings");
  if (!violations.empty()) return violations.ToStatus();
  return updated;
}

int64_t SettingsRevision(absl::string_view etag) {
  int64_t revision = -1;
  if (!absl::ConsumePrefix(&etag, "r") || !absl::SimpleAtoi(etag, &revision) || revision < 0) {
    return -1;
  }
  return revision;
}

std::string NextSettingsEtag(absl::string_view etag) {
  return absl::StrCat("r", std::max<int64_t>(SettingsRevision(etag), 0) + 1);
}

}  // namespace trellis::measurements
