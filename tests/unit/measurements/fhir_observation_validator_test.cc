// Runs exported Observations through the two real FHIR R4 validators (tests/fhir/validate.js:
// @medplum/core over the R4 StructureDefinitions, and fhir.js), and checks that they reject a
// broken Observation, so a pass cannot be vacuous.

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/fhir_observation.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "tests/support/redis_server.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::trellis::measurements::testing::Answers;
using ::trellis::measurements::testing::Day;

// Exit code of the validator on `file`, with its output in `output`.
int Validate(const std::string& file, std::string* output) {
  std::string command = absl::StrCat("node '", TRELLIS_SOURCE_DIR, "/tests/fhir/validate.js' '",
                                     file, "' 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output->append(buffer, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

v1::Measurement Scored(const std::string& metric, const std::vector<int>& answers, int day) {
  v1::Measurement m;
  m.set_name(absl::StrCat("patients/p42/measurements/", metric, day));
  m.set_patient("p42");
  m.set_metric(metric);
  auto scored = ScoreQuestionnaire(*clinical::FindBuiltIn(metric), Answers(answers), {});
  EXPECT_TRUE(scored.ok()) << scored.status();
  m.set_value(scored->total());
  *m.mutable_questionnaire() = *scored;
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2026, 1, day) + absl::Hours(9));
  *m.mutable_create_time() = ToProtoTimestamp(Day(2026, 1, day) + absl::Hours(9));
  return m;
}

v1::Measurement Rating(const std::string& metric, double value, int day) {
  v1::Measurement m;
  m.set_name(absl::StrCat("patients/p42/measurements/", metric, day));
  m.set_patient("p42");
  m.set_metric(metric);
  m.set_value(value);
  m.set_source(v1::MEASUREMENT_SOURCE_CLIENT);
  m.set_note("after the evening walk");
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2026, 1, day) + absl::Hours(20));
  *m.mutable_create_time() = ToProtoTimestamp(Day(2026, 1, day) + absl::Hours(20));
  return m;
}

class FhirObservationValidator : public ::testing::Test {
 protected:
  std::string Write(const nlohmann::json& doc) {
    std::string path = absl::StrCat(dir_.path(), "/bundle", ++files_, ".json");
    std::ofstream(path) << doc.dump();
    return path;
  }
  ::trellis::testing::TempDir dir_;
  int files_ = 0;
};

TEST_F(FhirObservationValidator, ExportedObservationsAreValidR4) {
  std::vector<nlohmann::json> resources = {
      ToFhirObservation(Scored("phq9", {2, 2, 2, 2, 2, 1, 1, 1, 1}, 5),
                        *clinical::FindBuiltIn("phq9")),
      ToFhirObservation(Scored("phq9", {1, 1, 1, 1, 1, 0, 0, 0, 1}, 19),
                        *clinical::FindBuiltIn("phq9")),
      ToFhirObservation(Scored("gad7", {2, 2, 2, 1, 1, 1, 1}, 5), *clinical::FindBuiltIn("gad7")),
      ToFhirObservation(Rating("mood", 6, 6), *clinical::FindBuiltIn("mood")),
      ToFhirObservation(Rating("suds", 40, 7), *clinical::FindBuiltIn("suds")),
  };
  std::string output;
  EXPECT_EQ(Validate(Write(ToFhirBundle(resources)), &output), 0) << output;
}

TEST_F(FhirObservationValidator, TheValidatorsRejectABrokenObservation) {
  nlohmann::json obs = ToFhirObservation(Scored("gad7", {1, 1, 1, 1, 1, 1, 1}, 5),
                                         *clinical::FindBuiltIn("gad7"));
  obs["status"] = "bogus";
  obs.erase("code");
  std::string output;
  EXPECT_NE(Validate(Write(obs), &output), 0) << output;
}

}  // namespace
}  // namespace trellis::measurements
