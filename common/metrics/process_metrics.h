#pragma once

// The standard process series (the names every Prometheus client library exports and dashboards
// read): process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds and process_threads.
// prometheus-cpp, unlike the Go, Java and Python clients, ships no process collector, so this one
// reads them from /proc (Linux only) each time the endpoint is scraped.

#include <cstdint>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::metrics {

// The fields of /proc/<pid>/stat the collector uses (proc(5)), in their raw units.
struct ProcStat {
  uint64_t utime_ticks = 0;  // user CPU time, clock ticks
  uint64_t stime_ticks = 0;  // system CPU time, clock ticks
  int64_t threads = 0;       // num_threads
  uint64_t start_ticks = 0;  // starttime: clock ticks after boot
  uint64_t vsize_bytes = 0;  // virtual memory size
  int64_t rss_pages = 0;     // resident set size, pages
};

// Parses the text of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// itself contain spaces and parentheses, so fields are counted from the last ')'.
// INVALID_ARGUMENT when the text is not such a line.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text);

// The boot time (seconds since the epoch) from the text of /proc/stat (its "btime" line).
absl::StatusOr<int64_t> ParseBootTime(absl::string_view text);

// One sample of the process series, in their exposed units.
struct ProcessSample {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
  double threads = 0;
};

// The sample of a parsed stat line, with the machine's clock tick rate, page size and boot time.
ProcessSample SampleOf(const ProcStat& stat, int64_t ticks_per_second, int64_t page_size,
                       int64_t boot_time, double open_fds, double max_fds);

// The seven families of a sample.
std::vector<prometheus::MetricFamily> ProcessFamilies(const ProcessSample& sample);

// Reads /proc/self at every scrape; a family whose source cannot be read is left out.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace trellis::metrics
