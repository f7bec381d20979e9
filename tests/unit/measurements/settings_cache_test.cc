// The in-process cache of tenants' measurement settings: how long an entry is served, that a
// replica's own newer revision is not undone by an older read, and the bound on its size.

#include "services/measurements/settings_cache.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::trellis::measurements::testing::Day;

v1::MeasurementSettings Revision(int n, bool proration) {
  v1::MeasurementSettings s;
  s.set_etag(absl::StrCat("r", n));
  s.set_proration_enabled(proration);
  return s;
}

TEST(SettingsCache, ServesAnEntryForItsLifetimeOnly) {
  SettingsCache cache(absl::Seconds(30), 10);
  const absl::Time t0 = Day(2026, 1, 5);
  EXPECT_FALSE(cache.Find("t1", t0).has_value());
  cache.Put("t1", Revision(1, true), t0);
  ASSERT_TRUE(cache.Find("t1", t0 + absl::Seconds(29)).has_value());
  EXPECT_TRUE(cache.Find("t1", t0 + absl::Seconds(29))->proration_enabled());
  EXPECT_FALSE(cache.Find("t1", t0 + absl::Seconds(30)).has_value());
  EXPECT_FALSE(cache.Find("t2", t0).has_value());  // per tenant
}

TEST(SettingsCache, AFreshNewerRevisionIsNotReplacedByAnOlderRead) {
  SettingsCache cache(absl::Seconds(30), 10);
  const absl::Time t0 = Day(2026, 1, 5);
  cache.Put("t1", Revision(2, true), t0);   // this replica's own update
  cache.Put("t1", Revision(1, false), t0);  // a read that started before it
  EXPECT_EQ(cache.Find("t1", t0)->etag(), "r2");
  // Once the entry has expired, what the store says wins (even an older revision).
  cache.Put("t1", Revision(0, false), t0 + absl::Seconds(30));
  EXPECT_EQ(cache.Find("t1", t0 + absl::Seconds(30))->etag(), "r0");
}

TEST(SettingsCache, StaysWithinItsBound) {
  SettingsCache cache(absl::Seconds(30), 2);
  const absl::Time t0 = Day(2026, 1, 5);
  cache.Put("t1", Revision(1, true), t0);
  cache.Put("t2", Revision(1, true), t0 + absl::Seconds(20));
  // t1 has expired by now: it makes room for t3; t2 stays.
  cache.Put("t3", Revision(1, true), t0 + absl::Seconds(31));
  EXPECT_TRUE(cache.Find("t2", t0 + absl::Seconds(31)).has_value());
  EXPECT_TRUE(cache.Find("t3", t0 + absl::Seconds(31)).has_value());
  // Nothing expired: the cache starts over rather than grow.
  cache.Put("t4", Revision(1, true), t0 + absl::Seconds(32));
  EXPECT_FALSE(cache.Find("t2", t0 + absl::Seconds(32)).has_value());
  EXPECT_TRUE(cache.Find("t4", t0 + absl::Seconds(32)).has_value());
}

}  // namespace
}  // namespace trellis::measurements
