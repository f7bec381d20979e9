#include "common/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace trellis::metrics {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Open descriptors of this process: the entries of /proc/self/fd, less the one reading it.
double CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text) {
  size_t close = text.rfind(')');
  if (close == absl::string_view::npos || text.find('(') == absl::string_view::npos ||
      text.find('(') > close) {
    return absl::InvalidArgumentError("not a /proc/<pid>/stat line: no (comm)");
  }
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::StripAsciiWhitespace(text.substr(close + 1)), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); field n is f[n - 3]. rss is field 24.
  if (f.size() < 22) return absl::InvalidArgumentError("not a /proc/<pid>/stat line: too short");
  ProcStat out;
  bool ok =
      absl::SimpleAtoi(f[14 - 3], &out.utime_ticks) &&
      absl::SimpleAtoi(f[15 - 3], &out.stime_ticks) && absl::SimpleAtoi(f[20 - 3], &out.threads) &&
      absl::SimpleAtoi(f[22 - 3], &out.start_ticks) &&
      absl::SimpleAtoi(f[23 - 3], &out.vsize_bytes) && absl::SimpleAtoi(f[24 - 3], &out.rss_pages);
  if (!ok) return absl::InvalidArgumentError("not a /proc/<pid>/stat line: bad number");
  return out;
}

absl::StatusOr<int64_t> ParseBootTime(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      int64_t boot = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &boot)) return boot;
      break;
    }
  }
  return absl::InvalidArgumentError("no btime line in /proc/stat");
}

ProcessSample SampleOf(const ProcStat& stat, int64_t ticks_per_second, int64_t page_size,
                       int64_t boot_time, double open_fds, double max_fds) {
  double ticks = static_cast<double>(ticks_per_second);
  ProcessSample s;
  s.cpu_seconds = static_cast<double>(stat.utime_ticks + stat.stime_ticks) / ticks;
  s.resident_bytes = static_cast<double>(stat.rss_pages) * static_cast<double>(page_size);
  s.virtual_bytes = static_cast<double>(stat.vsize_bytes);
  s.open_fds = open_fds;
  s.max_fds = max_fds;
  s.start_time_seconds =
      static_cast<double>(boot_time) + static_cast<double>(stat.start_ticks) / ticks;
  s.threads = static_cast<double>(stat.threads);
  return s;
}

std::vector<prometheus::MetricFamily> ProcessFamilies(const ProcessSample& s) {
  using prometheus::MetricType;
  return {
      Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, s.cpu_seconds),
      Family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             s.resident_bytes),
      Family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             s.virtual_bytes),
      Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, s.open_fds),
      Family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             s.max_fds),
      Family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, s.start_time_seconds),
      Family("process_threads", "Number of OS threads in the process.", MetricType::Gauge,
             s.threads),
  };
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  auto stat = ParseProcStat(ReadFile("/proc/self/stat"));
  auto boot = ParseBootTime(ReadFile("/proc/stat"));
  if (!stat.ok() || !boot.ok()) return {};
  rlimit files{};
  double max_fds = getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                       ? static_cast<double>(files.rlim_cur)
                       : -1;
  ProcessSample sample =
      SampleOf(*stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), *boot, CountOpenFds(), max_fds);
  std::vector<prometheus::MetricFamily> families = ProcessFamilies(sample);
  // Leave out what could not be read rather than report a made-up number.
  std::erase_if(families, [](const prometheus::MetricFamily& f) {
    return f.metric.front().gauge.value < 0 && f.type == prometheus::MetricType::Gauge;
  });
  return families;
}

}  // namespace trellis::metrics
