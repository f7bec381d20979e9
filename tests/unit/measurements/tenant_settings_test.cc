// A tenant's measurement settings: defaults, how an update mask applies, the limits a tenant
// admin may set, and how they overlay the service's instrument configuration.

#include <string>
#include <vector>

#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "services/measurements/domain/tenant_settings.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::trellis::measurements::testing::Answers;
using ::trellis::measurements::testing::HasViolation;
using ::trellis::measurements::testing::ViolationsToString;

google::protobuf::FieldMask Mask(const std::vector<std::string>& paths) {
  google::protobuf::FieldMask mask;
  for (const auto& p : paths) mask.add_paths(p);
  return mask;
}

TEST(MeasurementSettings, DefaultsAreTheServiceDefaultsWithProrationOff) {
  const v1::MeasurementSettings settings = DefaultSettings(clinical::InstrumentConfig{});
  EXPECT_EQ(settings.name(), "measurementSettings");
  EXPECT_FALSE(settings.proration_enabled());
  EXPECT_EQ(settings.phq9_max_missing_items(), 2);
  EXPECT_EQ(settings.gad7_max_missing_items(), 1);
  EXPECT_EQ(settings.etag(), "r0");
  EXPECT_FALSE(settings.has_update_time());
}

TEST(MeasurementSettings, OverlayProrationOnTheServiceConfigurationOnly) {
  clinical::InstrumentConfig service;
  service.phq9_reliable_change = 5;
  v1::MeasurementSettings settings = DefaultSettings(service);
  settings.set_proration_enabled(true);
  settings.set_phq9_max_missing_items(1);
  const clinical::InstrumentConfig config = InstrumentConfigFor(service, settings);
  EXPECT_TRUE(config.proration_enabled);
  EXPECT_EQ(config.phq9_max_missing_items, 1);
  EXPECT_EQ(config.gad7_max_missing_items, 1);
  EXPECT_EQ(config.phq9_reliable_change, 5);  // thresholds stay the service's
}

TEST(MeasurementSettings, EnablingProrationLetsScoringAcceptTheConfiguredMissingItems) {
  const v1::Metric& phq9 = *clinical::FindBuiltIn("phq9");
  auto answers = Answers({2, 2, 2, 1, 1, 1, 1, 0, 0});
  answers.DeleteSubrange(7, 1);  // item 8 unanswered
  const clinical::InstrumentConfig service;
  v1::MeasurementSettings settings = DefaultSettings(service);
  EXPECT_FALSE(ScoreQuestionnaire(phq9, answers, InstrumentConfigFor(service, settings)).ok());
  settings.set_proration_enabled(true);
  auto scored = ScoreQuestionnaire(phq9, answers, InstrumentConfigFor(service, settings));
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(scored->total(), 11);  // 10 * 9 / 8 = 11.25
  EXPECT_TRUE(scored->prorated());
}

TEST(MeasurementSettingsMask, AcceptsTheWritableFieldsOnceEach) {
  auto paths = ValidateSettingsMask(
      Mask({"gad7_max_missing_items", "proration_enabled", "proration_enabled"}));
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(*paths, (std::vector<std::string>{"gad7_max_missing_items", "proration_enabled"}));
}

TEST(MeasurementSettingsMask, RefusesEmptyStarUnknownAndOutputOnlyPathsNamingUpdateMask) {
  EXPECT_TRUE(HasViolation(ValidateSettingsMask(Mask({})).status(), "update_mask", "required"));
  for (const std::string path :
       {"*", "etag", "name", "update_time", "updated_by", "proration", "phq9_reliable_change"}) {
    SCOPED_TRACE(path);
    auto paths = ValidateSettingsMask(Mask({"proration_enabled", path}));
    EXPECT_EQ(paths.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasViolation(paths.status(), "update_mask", path))
        << ViolationsToString(paths.status());
  }
}

TEST(MeasurementSettingsUpdate, TakesOnlyTheMaskedFields) {
  const clinical::InstrumentConfig service;
  const v1::MeasurementSettings current = DefaultSettings(service);
  v1::MeasurementSettings patch;
  patch.set_proration_enabled(true);
  patch.set_phq9_max_missing_items(1);  // not in the mask: ignored
  patch.set_etag("forged");             // output only: ignored
  auto updated = ApplySettingsUpdate(service, current, patch, {"proration_enabled"});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_TRUE(updated->proration_enabled());
  EXPECT_EQ(updated->phq9_max_missing_items(), 2);
  EXPECT_EQ(updated->etag(), "r0");
}

TEST(MeasurementSettingsUpdate, AMaskedFieldLeftUnsetIsCleared) {
  const clinical::InstrumentConfig service;
  v1::MeasurementSettings current = DefaultSettings(service);
  current.set_proration_enabled(true);
  auto updated = ApplySettingsUpdate(service, current, v1::MeasurementSettings{},
                                     {"proration_enabled", "gad7_max_missing_items"});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->proration_enabled());
  EXPECT_EQ(updated->gad7_max_missing_items(), 0);
}

TEST(MeasurementSettingsUpdate, RefusesLimitsTheInstrumentCannotHaveNamingTheField) {
  const clinical::InstrumentConfig service;
  const v1::MeasurementSettings current = DefaultSettings(service);
  v1::MeasurementSettings patch;
  patch.set_phq9_max_missing_items(9);  // item 9 can never be missing: at most 8
  patch.set_gad7_max_missing_items(7);  // at most 6 of 7
  auto updated = ApplySettingsUpdate(service, current, patch,
                                     {"phq9_max_missing_items", "gad7_max_missing_items"});
  EXPECT_TRUE(HasViolation(updated.status(), "settings.phq9_max_missing_items", "[0, 8]"))
      << ViolationsToString(updated.status());
  EXPECT_TRUE(HasViolation(updated.status(), "settings.gad7_max_missing_items", "[0, 6]"))
      << ViolationsToString(updated.status());

  patch.set_phq9_max_missing_items(-1);
  EXPECT_TRUE(HasViolation(
      ApplySettingsUpdate(service, current, patch, {"phq9_max_missing_items"}).status(),
      "settings.phq9_max_missing_items"));
  patch.set_phq9_max_missing_items(8);
  EXPECT_TRUE(ApplySettingsUpdate(service, current, patch, {"phq9_max_missing_items"}).ok());
}

TEST(MeasurementSettingsEtag, CountsRevisions) {
  EXPECT_EQ(SettingsRevision("r0"), 0);
  EXPECT_EQ(SettingsRevision("r41"), 41);
  EXPECT_EQ(SettingsRevision(""), -1);
  EXPECT_EQ(SettingsRevision("41"), -1);
  EXPECT_EQ(SettingsRevision("r-2"), -1);
  EXPECT_EQ(NextSettingsEtag("r0"), "r1");
  EXPECT_EQ(NextSettingsEtag("r41"), "r42");
  EXPECT_EQ(NextSettingsEtag("junk"), "r1");
}

}  // namespace
}  // namespace trellis::measurements
