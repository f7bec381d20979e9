// Reliable change: integer thresholds for PHQ-9/GAD-7 at and around their edges, and the
// Jacobson-Truax vectors of reference/measures.md.

#include <cmath>

#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/reliable_change.h"

namespace trellis::measurements {
namespace {

const v1::Metric& Phq9() { return *clinical::FindBuiltIn("phq9"); }
const v1::Metric& Gad7() { return *clinical::FindBuiltIn("gad7"); }

v1::ReliableChange Change(const v1::Metric& m, double before, double after) {
  return AssessReliableChange(m, before, after, Better::kLower).change;
}

TEST(Phq9ReliableChange, ADropOfFiveIsNotReliable) {
  EXPECT_EQ(Change(Phq9(), 18, 13), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
}

TEST(Phq9ReliableChange, ADropOfSixIsReliableImprovement) {
  const auto rc = AssessReliableChange(Phq9(), 18, 12, Better::kLower);
  EXPECT_EQ(rc.change, v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(rc.method, v1::RELIABLE_CHANGE_METHOD_THRESHOLD);
  EXPECT_FALSE(rc.index.has_value());  // never a float index for the questionnaires
  EXPECT_EQ(Change(Phq9(), 27, 0), v1::RELIABLE_CHANGE_IMPROVED);
}

TEST(Phq9ReliableChange, ARiseOfSixIsReliableDeterioration) {
  EXPECT_EQ(Change(Phq9(), 8, 14), v1::RELIABLE_CHANGE_DETERIORATED);
  EXPECT_EQ(Change(Phq9(), 8, 13), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
}

TEST(Gad7ReliableChange, ADropOfThreeIsNotReliableAndFourIs) {
  EXPECT_EQ(Change(Gad7(), 15, 12), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
  EXPECT_EQ(Change(Gad7(), 15, 11), v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(Change(Gad7(), 11, 15), v1::RELIABLE_CHANGE_DETERIORATED);
}

TEST(ReliableChangeThreshold, FollowsTheTenantsConfiguredThreshold) {
  v1::Metric phq9 = Phq9();
  clinical::InstrumentConfig config;
  config.phq9_reliable_change = 5;
  clinical::ApplyInstrumentConfig(config, &phq9);
  EXPECT_EQ(Change(phq9, 18, 13), v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(Change(phq9, 18, 14), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
}

TEST(ReliableChangeThreshold, HigherIsBetterFlipsTheMeaning) {
  v1::Metric m;
  m.set_integer_values(true);
  m.set_reliable_change_threshold(3);
  EXPECT_EQ(AssessReliableChange(m, 4, 7, Better::kHigher).change, v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(AssessReliableChange(m, 7, 4, Better::kHigher).change,
            v1::RELIABLE_CHANGE_DETERIORATED);
}

TEST(ReliableChangeThreshold, DecimalMetricsDoNotMissTheEdgeByRounding) {
  v1::Metric hours;
  hours.set_reliable_change_threshold(2.2);
  EXPECT_EQ(AssessReliableChange(hours, 5.1, 7.3, Better::kHigher).change,
            v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(AssessReliableChange(hours, 5.1, 7.2, Better::kHigher).change,
            v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
}

struct JtVector {
  double pre, post, sd, r, s_diff, rc;
  bool reliable;
};

// reference/measures.md
constexpr JtVector kJtVectors[] = {
    {16, 10, 5.0, 0.84, 2.8284, -2.1213, true},
    {16, 11, 5.0, 0.84, 2.8284, -1.7678, false},
    {14, 10, 4.0, 0.91, 1.6971, -2.3570, true},
    {14, 11, 4.0, 0.91, 1.6971, -1.7678, false},
};

TEST(JacobsonTruax, MatchesTheReferenceVectors) {
  for (const JtVector& v : kJtVectors) {
    SCOPED_TRACE(testing::Message() << v.pre << " -> " << v.post << " sd " << v.sd << " r " << v.r);
    EXPECT_NEAR(v.sd * std::sqrt(2.0) * std::sqrt(1.0 - v.r), v.s_diff, 1e-4);
    EXPECT_NEAR(JacobsonTruaxIndex(v.pre, v.post, v.sd, v.r), v.rc, 1e-4);

    v1::Metric m;
    m.set_standard_deviation(v.sd);
    m.set_reliability(v.r);
    const auto rc = AssessReliableChange(m, v.pre, v.post, Better::kLower);
    EXPECT_EQ(rc.method, v1::RELIABLE_CHANGE_METHOD_JACOBSON_TRUAX);
    ASSERT_TRUE(rc.index.has_value());
    EXPECT_NEAR(*rc.index, v.rc, 1e-4);
    EXPECT_EQ(rc.change,
              v.reliable ? v1::RELIABLE_CHANGE_IMPROVED : v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
    // The mirror image is reliable deterioration exactly when the drop was reliable improvement.
    EXPECT_EQ(
        AssessReliableChange(m, v.post, v.pre, Better::kLower).change,
        v.reliable ? v1::RELIABLE_CHANGE_DETERIORATED : v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
  }
}

TEST(ReliableChangeCriterion, AMetricWithoutOneIsNotApplicable) {
  const auto rc = AssessReliableChange(*clinical::FindBuiltIn("mood"), 3, 9, Better::kHigher);
  EXPECT_EQ(rc.change, v1::RELIABLE_CHANGE_NOT_APPLICABLE);
  EXPECT_EQ(rc.method, v1::RELIABLE_CHANGE_METHOD_NONE);
  EXPECT_FALSE(HasReliableChangeCriterion(*clinical::FindBuiltIn("mood")));
  EXPECT_TRUE(HasReliableChangeCriterion(Phq9()));
}

TEST(ReliableChangeCriterion, TheThresholdWinsOverJacobsonTruax) {
  v1::Metric m = Phq9();
  m.set_standard_deviation(1);
  m.set_reliability(0.5);
  EXPECT_EQ(AssessReliableChange(m, 18, 15, Better::kLower).method,
            v1::RELIABLE_CHANGE_METHOD_THRESHOLD);
}

}  // namespace
}  // namespace trellis::measurements
