#pragma once

// Responses for people and for scripts. `--output json` is the protobuf JSON mapping
// (lowerCamelCase names, enums by name, RFC 3339 timestamps), with fields at their default value
// included so that `jq .passes` is `false` rather than `null`. `--output table` shows a list as
// columns and one resource as "path: value" lines of its set fields.
//
// Values for people: enums by their short name (proto_names.h), Timestamps as RFC 3339 in UTC to
// the second, Durations as "8w", "3d" or "1h30m", LocalDate as "2024-03-10", LocalDateTime as
// "2024-03-10T20:00:00", doubles with at most two decimals (three significant digits below 0.01).

#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/table.h"

namespace trellis::cli {

// Pretty (two-space indent) or on one line (JSON Lines for streams); no trailing newline.
std::string ToJson(const google::protobuf::Message& message, bool pretty = true);

std::string FormatDouble(double value);
// RFC 3339 in UTC to the second: "2024-03-10T20:00:00Z".
std::string FormatUtc(absl::Time time);
// "8w", "3d", else absl's "1h30m".
std::string FormatDurationForPeople(absl::Duration d);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

// The value at `path` ("measure.target", "latest.value") for people; "" when unset. Repeated
// leaves are joined with ", ".
std::string FieldText(const google::protobuf::Message& message, absl::string_view path);

// Every set field, depth first, as ("measure.target", "7") pairs; repeated messages as
// "addresses[0].text", maps as "weights[key]".
std::vector<std::pair<std::string, std::string>> FlattenFields(
    const google::protobuf::Message& message);

// RenderKeyValues(FlattenFields(message)).
std::string RenderMessage(const google::protobuf::Message& message);

struct Column {
  std::string header{};
  std::string path{};  // FieldText path within each item
  bool right = false;
};

// One row per item.
template <typename Items>
std::string RenderRows(const Items& items, const std::vector<Column>& columns) {
  std::vector<std::string> headers;
  for (const Column& c : columns) headers.push_back(c.header);
  Table table(headers);
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].right) table.AlignRight(i);
  }
  for (const auto& item : items) {
    std::vector<std::string> row;
    for (const Column& c : columns) row.push_back(FieldText(item, c.path));
    table.AddRow(std::move(row));
  }
  return table.Render();
}

}  // namespace trellis::cli
