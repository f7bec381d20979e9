#pragma once

// Request messages from the command line: a flag names a request field ("goal.measure.target")
// and its text is parsed by the field's type, through protobuf reflection, so one parser serves
// every subcommand and the help text states what each flag accepts. `--json` input (protobuf JSON
// mapping) is read first and the flags are applied on top of it.
//
// Accepted text by field type:
//   string                 as given
//   integers, doubles      decimal ("-2", "7.5")
//   bool                   true/false/yes/no/1/0 (a switch given alone is true)
//   enum                   the value's name with or without its type prefix, any case, "-" or
//                          "_": "active", "ACTIVE", "GOAL_LIFECYCLE_STATUS_ACTIVE", "on-hold"
//   Timestamp              RFC 3339 ("2024-03-10T20:00:00Z", "...+01:00"), a date (00:00 UTC),
//                          "now", or "now-14d" / "now+1h" (ParseCliDuration's units)
//   Duration               ParseCliDuration ("90s", "1h30m", "14d")
//   trellis.v1.LocalDate   "2024-03-10", "today", "today+12w" / "today-3d" (UTC calendar)
//   trellis.v1.LocalDateTime "2024-03-10T20:00" or "2024-03-10 20:00:30"
//   FieldMask              comma-separated paths
//   repeated fields        one element per value (the flag splits values at commas)
//   a field under a repeated message ("goal.addresses.text"): one element per value, with
//                          that field set

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "trellis/v1/common.pb.h"

namespace trellis::cli {

// A flag that sets `path` of `request`'s type, its value name and accepted enum values taken from
// the field's type. Aborts on a path the message does not have: a broken command table, found by
// the first run of any test.
Flag FieldFlag(const google::protobuf::Descriptor* request, std::string name, std::string path,
               std::string help);

// The enum value named by `text` (see the header comment); INVALID_ARGUMENT listing the accepted
// names otherwise.
absl::StatusOr<int> ParseEnum(const google::protobuf::EnumDescriptor* type, absl::string_view text);
// The accepted names of an enum in help and errors: "active|on-hold|..." (zero value left out).
std::string EnumChoices(const google::protobuf::EnumDescriptor* type);

absl::StatusOr<absl::Time> ParseInstant(absl::string_view text, absl::Time now);
absl::StatusOr<trellis::v1::LocalDate> ParseLocalDate(absl::string_view text, absl::Time now);
absl::StatusOr<trellis::v1::LocalDateTime> ParseLocalDateTime(absl::string_view text);

// Sets the field at `path` of `message` from `values` (the last for a singular field; one element
// per value for a repeated field or a field under a repeated message, which is replaced). Creates
// the messages along the path. INVALID_ARGUMENT (without the flag's name; the caller adds it) when
// a value does not parse; NOT_FOUND when the path does not exist.
absl::Status SetFieldFromText(google::protobuf::Message& message, absl::string_view path,
                              const std::vector<std::string>& values, absl::Time now);

// Applies every flag of `args`' command path that names a field and is set (command line or
// environment) to `request`; errors name the flag. Returns the field paths it set, in flag order.
absl::StatusOr<std::vector<std::string>> ApplyFieldFlags(const ParsedArgs& args,
                                                         google::protobuf::Message& request,
                                                         absl::Time now);

// Merges protobuf JSON `json` into `message` (unknown fields are errors); INVALID_ARGUMENT with
// the parser's message.
absl::Status MergeJson(absl::string_view json, google::protobuf::Message& message);

}  // namespace trellis::cli
