#include "cli/proto_output.h"

#include <cmath>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/field_mask.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/proto_names.h"
#include "google/rpc/status.pb.h"
#include "trellis/v1/common.pb.h"

namespace trellis::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Message types shown as one value rather than as their fields.
bool IsLeafMessage(const google::protobuf::Descriptor* type) {
  absl::string_view name = type->full_name();
  return name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration" ||
         name == "google.protobuf.FieldMask" || name == "trellis.v1.LocalDate" ||
         name == "trellis.v1.LocalDateTime" || name == "google.rpc.Status";
}

std::string FormatLeafMessage(const Message& m) {
  absl::string_view name = m.GetDescriptor()->full_name();
  if (name == "google.protobuf.Timestamp") {
    return FormatUtc(FromTimestamp(static_cast<const google::protobuf::Timestamp&>(m)));
  }
  if (name == "google.protobuf.Duration") {
    const auto& d = static_cast<const google::protobuf::Duration&>(m);
    return FormatDurationForPeople(absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()));
  }
  if (name == "google.protobuf.FieldMask") {
    return absl::StrJoin(static_cast<const google::protobuf::FieldMask&>(m).paths(), ",");
  }
  if (name == "trellis.v1.LocalDate") {
    const auto& d = static_cast<const v1::LocalDate&>(m);
    if (d.year() == 0 && d.month() == 0 && d.day() == 0) return "";
    return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
  }
  if (name == "trellis.v1.LocalDateTime") {
    const auto& d = static_cast<const v1::LocalDateTime&>(m);
    return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d", d.year(), d.month(), d.day(), d.hours(),
                           d.minutes(), d.seconds());
  }
  if (name == "google.rpc.Status") {
    const auto& s = static_cast<const google::rpc::Status&>(m);
    return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.code())), ": ",
                        s.message());
  }
  return m.ShortDebugString();
}

// One value of `field` (element `index` when repeated).
std::string FormatValue(const Message& m, const FieldDescriptor* field, int index) {
  const Reflection* r = m.GetReflection();
  bool rep = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, field, index) : r->GetString(m, field);
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, field, index) : r->GetInt32(m, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, field, index) : r->GetInt64(m, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, field, index) : r->GetUInt32(m, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, field, index) : r->GetUInt64(m, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return FormatDouble(rep ? r->GetRepeatedDouble(m, field, index) : r->GetDouble(m, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FormatDouble(rep ? r->GetRepeatedFloat(m, field, index) : r->GetFloat(m, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, field, index) : r->GetBool(m, field)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return EnumDisplayName(rep ? r->GetRepeatedEnum(m, field, index) : r->GetEnum(m, field));
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, field, index) : r->GetMessage(m, field);
      return IsLeafMessage(sub.GetDescriptor()) ? FormatLeafMessage(sub) : sub.ShortDebugString();
    }
  }
  return "";
}

// Every element of a repeated field, ", " between them.
std::string JoinRepeated(const Message& m, const FieldDescriptor* field) {
  int n = m.GetReflection()->FieldSize(m, field);
  std::vector<std::string> values;
  values.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) values.push_back(FormatValue(m, field, i));
  return absl::StrJoin(values, ", ");
}

void Flatten(const Message& m, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  std::vector<const FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  const Reflection* r = m.GetReflection();
  for (const FieldDescriptor* field : fields) {
    std::string key = absl::StrCat(prefix, field->name());
    bool message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                   !IsLeafMessage(field->message_type());
    if (field->is_map()) {
      const FieldDescriptor* k = field->message_type()->map_key();
      const FieldDescriptor* v = field->message_type()->map_value();
      for (int i = 0; i < r->FieldSize(m, field); ++i) {
        const Message& entry = r->GetRepeatedMessage(m, field, i);
        out.emplace_back(absl::StrCat(key, "[", FormatValue(entry, k, -1), "]"),
                         FormatValue(entry, v, -1));
      }
    } else if (field->is_repeated() && message) {
      for (int i = 0; i < r->FieldSize(m, field); ++i) {
        Flatten(r->GetRepeatedMessage(m, field, i), absl::StrCat(key, "[", i, "]."), out);
      }
    } else if (field->is_repeated()) {
      out.emplace_back(key, JoinRepeated(m, field));
    } else if (message) {
      Flatten(r->GetMessage(m, field), key + ".", out);
    } else {
      std::string value = FormatValue(m, field, -1);
      if (!value.empty()) out.emplace_back(key, value);
    }
  }
}

}  // namespace

std::string ToJson(const Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return absl::StrCat("{\"error\": \"cannot print as JSON\"}");
  return std::string(absl::StripTrailingAsciiWhitespace(out));
}

std::string FormatDouble(double value) {
  if (!std::isfinite(value)) return absl::StrCat(value);
  if (value != 0 && std::fabs(value) < 0.01) return absl::StrFormat("%.3g", value);
  std::string out = absl::StrFormat("%.2f", value);
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  if (out == "-0") out = "0";
  return out;
}

std::string FormatUtc(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string FormatDurationForPeople(absl::Duration d) {
  const absl::Duration day = absl::Hours(24);
  if (d != absl::ZeroDuration() && d % (7 * day) == absl::ZeroDuration()) {
    return absl::StrCat(d / (7 * day), "w");
  }
  if (d != absl::ZeroDuration() && d % day == absl::ZeroDuration()) {
    return absl::StrCat(d / day, "d");
  }
  return absl::FormatDuration(d);
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string FieldText(const Message& message, absl::string_view path) {
  const Message* m = &message;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field = m->GetDescriptor()->FindFieldByName(parts[i]);
    if (field == nullptr) return "";
    const Reflection* r = m->GetReflection();
    bool last = i + 1 == parts.size();
    if (field->is_repeated()) {
      if (!last) return "";
      return JoinRepeated(*m, field);
    }
    bool has = field->has_presence() ? r->HasField(*m, field) : true;
    if (!has) return "";
    if (last) {
      // An enum's zero value is "unspecified": nothing to show.
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM && r->GetEnumValue(*m, field) == 0) {
        return "";
      }
      return FormatValue(*m, field, -1);
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return "";
    m = &r->GetMessage(*m, field);
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> FlattenFields(const Message& message) {
  std::vector<std::pair<std::string, std::string>> out;
  Flatten(message, "", out);
  return out;
}

std::string RenderMessage(const Message& message) {
  return RenderKeyValues(FlattenFields(message));
}

}  // namespace trellis::cli
