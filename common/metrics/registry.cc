#include "common/metrics/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trellis::metrics {
namespace {

std::string Escape(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string LabelText(const Labels& labels, absl::string_view extra_key = "",
                      absl::string_view extra_value = "") {
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) parts.push_back(absl::StrCat(k, "=\"", Escape(v), "\""));
  if (!extra_key.empty()) parts.push_back(absl::StrCat(extra_key, "=\"", extra_value, "\""));
  if (parts.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string Number(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v)) && v < 1e15 && v > -1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrCat(v);
}

}  // namespace

std::vector<double> Registry::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void Registry::Describe(absl::string_view name, absl::string_view type, absl::string_view help,
                        std::vector<double> buckets) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[std::string(name)];
  f.type = std::string(type);
  f.help = std::string(help);
  f.buckets = std::move(buckets);
}

void Registry::Add(absl::string_view name, const Labels& labels, double delta) {
  absl::MutexLock lock(&mu_);
  families_[std::string(name)].values[labels] += delta;
}

void Registry::Set(absl::string_view name, const Labels& labels, double value) {
  absl::MutexLock lock(&mu_);
  families_[std::string(name)].values[labels] = value;
}

void Registry::Observe(absl::string_view name, const Labels& labels, double value) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[std::string(name)];
  if (f.buckets.empty()) f.buckets = LatencyBuckets();
  Histogram& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(f.buckets.size(), 0);
  auto it = std::lower_bound(f.buckets.begin(), f.buckets.end(), value);
  if (it != f.buckets.end()) h.counts[it - f.buckets.begin()]++;
  h.count++;
  h.sum += value;
}

double Registry::Value(absl::string_view name, const Labels& labels) const {
  absl::MutexLock lock(&mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto v = f->second.values.find(labels);
  return v == f->second.values.end() ? 0 : v->second;
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", f.type.empty() ? "untyped" : f.type, "\n");
    for (const auto& [labels, v] : f.values) {
      absl::StrAppend(&out, name, LabelText(labels), " ", Number(v), "\n");
    }
    for (const auto& [labels, h] : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += h.counts[i];
        absl::StrAppend(&out, name, "_bucket", LabelText(labels, "le", Number(f.buckets[i])), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_bucket", LabelText(labels, "le", "+Inf"), " ", h.count, "\n");
      absl::StrAppend(&out, name, "_sum", LabelText(labels), " ", h.sum, "\n");
      absl::StrAppend(&out, name, "_count", LabelText(labels), " ", h.count, "\n");
    }
  }
  return out;
}

}  // namespace trellis::metrics
