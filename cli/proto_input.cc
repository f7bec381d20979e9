#include "cli/proto_input.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <set>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/field_mask.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "cli/proto_names.h"

namespace trellis::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr absl::string_view kTimestamp = "google.protobuf.Timestamp";
constexpr absl::string_view kDuration = "google.protobuf.Duration";
constexpr absl::string_view kFieldMask = "google.protobuf.FieldMask";
constexpr absl::string_view kLocalDate = "trellis.v1.LocalDate";
constexpr absl::string_view kLocalDateTime = "trellis.v1.LocalDateTime";

// The leaf field of `path` in `type`, or nullptr. `repeated` tells whether the leaf or a message
// on the way is repeated (the flag then takes several values).
const FieldDescriptor* LeafField(const Descriptor* type, absl::string_view path, bool* repeated) {
  const FieldDescriptor* field = nullptr;
  *repeated = false;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (type == nullptr) return nullptr;
    field = type->FindFieldByName(std::string(part));
    if (field == nullptr) return nullptr;
    *repeated = *repeated || field->is_repeated();
    type = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? field->message_type() : nullptr;
  }
  return field;
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t seconds = absl::ToUnixSeconds(t);
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return ts;
}

google::protobuf::Duration ToDurationProto(absl::Duration d) {
  google::protobuf::Duration out;
  absl::Duration rem;
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &rem);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rem / absl::Nanoseconds(1)));
  return out;
}

// The value of a message-typed leaf, built from text.
absl::StatusOr<std::unique_ptr<Message>> ParseMessageValue(const Descriptor* type,
                                                           absl::string_view text, absl::Time now) {
  std::unique_ptr<Message> out;
  absl::string_view name = type->full_name();
  if (name == kTimestamp) {
    absl::StatusOr<absl::Time> t = ParseInstant(text, now);
    if (!t.ok()) return t.status();
    out = std::make_unique<google::protobuf::Timestamp>(ToTimestamp(*t));
  } else if (name == kDuration) {
    absl::StatusOr<absl::Duration> d = ParseCliDuration(text);
    if (!d.ok()) return d.status();
    out = std::make_unique<google::protobuf::Duration>(ToDurationProto(*d));
  } else if (name == kLocalDate) {
    absl::StatusOr<v1::LocalDate> d = ParseLocalDate(text, now);
    if (!d.ok()) return d.status();
    out = std::make_unique<v1::LocalDate>(*d);
  } else if (name == kLocalDateTime) {
    absl::StatusOr<v1::LocalDateTime> d = ParseLocalDateTime(text);
    if (!d.ok()) return d.status();
    out = std::make_unique<v1::LocalDateTime>(*d);
  } else if (name == kFieldMask) {
    auto mask = std::make_unique<google::protobuf::FieldMask>();
    for (absl::string_view p : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
      mask->add_paths(std::string(absl::StripAsciiWhitespace(p)));
    }
    out = std::move(mask);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", name, " cannot be given as a flag; use --json"));
  }
  return out;
}

template <typename T>
absl::StatusOr<T> ParseInteger(absl::string_view text) {
  int64_t wide = 0;
  if (!absl::SimpleAtoi(text, &wide) || wide < std::numeric_limits<T>::min() ||
      wide > std::numeric_limits<T>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a whole number, got '", text, "'"));
  }
  return static_cast<T>(wide);
}

// Sets (add = false) or appends (add = true) one value of `field` in `m`.
absl::Status SetOne(Message& m, const FieldDescriptor* field, absl::string_view text, bool add,
                    absl::Time now) {
  const Reflection* r = m.GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      add ? r->AddString(&m, field, std::string(text)) : r->SetString(&m, field, std::string(text));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      absl::StatusOr<int32_t> v = ParseInteger<int32_t>(text);
      if (!v.ok()) return v.status();
      add ? r->AddInt32(&m, field, *v) : r->SetInt32(&m, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      absl::StatusOr<int64_t> v = ParseInteger<int64_t>(text);
      if (!v.ok()) return v.status();
      add ? r->AddInt64(&m, field, *v) : r->SetInt64(&m, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      absl::StatusOr<uint32_t> v = ParseInteger<uint32_t>(text);
      if (!v.ok()) return v.status();
      add ? r->AddUInt32(&m, field, *v) : r->SetUInt32(&m, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v = 0;
      if (!absl::SimpleAtoi(text, &v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected a whole number, got '", text, "'"));
      }
      add ? r->AddUInt64(&m, field, v) : r->SetUInt64(&m, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v = 0;
      if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat("expected a number, got '", text, "'"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        add ? r->AddDouble(&m, field, v) : r->SetDouble(&m, field, v);
      } else {
        add ? r->AddFloat(&m, field, static_cast<float>(v))
            : r->SetFloat(&m, field, static_cast<float>(v));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      std::optional<bool> v = ParseBoolText(text);
      if (!v.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("expected true or false, got '", text, "'"));
      }
      add ? r->AddBool(&m, field, *v) : r->SetBool(&m, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      absl::StatusOr<int> v = ParseEnum(field->enum_type(), text);
      if (!v.ok()) return v.status();
      add ? r->AddEnumValue(&m, field, *v) : r->SetEnumValue(&m, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      absl::StatusOr<std::unique_ptr<Message>> v =
          ParseMessageValue(field->message_type(), text, now);
      if (!v.ok()) return v.status();
      Message* target = add ? r->AddMessage(&m, field) : r->MutableMessage(&m, field);
      target->CopyFrom(**v);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unsupported field type");
}

// "VALUE" names and the accepted-forms note for a leaf field's flag.
void DescribeValue(const FieldDescriptor* field, Flag& flag) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      // Ids and resource names read better as such than as TEXT.
      static const auto* const kNames = new std::set<std::string>{
          "name", "parent", "goal", "goals", "reminder", "occurrence_id", "delivery_id"};
      static const auto* const kIds = new std::set<std::string>{
          "patient",    "id",        "metric",     "metrics", "instrument",
          "subscriber", "clinician", "request_id", "etag",    "page_token"};
      const std::string& n = field->name();
      flag.value_name = kNames->count(n) ? "NAME" : kIds->count(n) ? "ID" : "TEXT";
      return;
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      flag.value_name = "N";
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      flag.value_name = "X";
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      flag.value_name = "";
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      std::string choices = EnumChoices(field->enum_type());
      if (choices.size() <= 40) {
        flag.value_name = choices;
      } else {
        flag.value_name = "VALUE";
        absl::StrAppend(&flag.help, " One of: ", absl::StrReplaceAll(choices, {{"|", ", "}}), ".");
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      absl::string_view name = field->message_type()->full_name();
      if (name == kTimestamp) {
        flag.value_name = "TIME";
        absl::StrAppend(&flag.help, " RFC 3339, YYYY-MM-DD (UTC), now, or now-14d.");
      } else if (name == kDuration) {
        flag.value_name = "DURATION";
      } else if (name == kLocalDate) {
        flag.value_name = "DATE";
        absl::StrAppend(&flag.help, " YYYY-MM-DD, today, or today+12w.");
      } else if (name == kLocalDateTime) {
        flag.value_name = "LOCAL_TIME";
        absl::StrAppend(&flag.help, " YYYY-MM-DDTHH:MM[:SS], no zone.");
      } else if (name == kFieldMask) {
        flag.value_name = "PATHS";
      } else {
        flag.value_name = "VALUE";
      }
      return;
    }
  }
}

}  // namespace

Flag FieldFlag(const Descriptor* request, std::string name, std::string path, std::string help) {
  bool repeated = false;
  const FieldDescriptor* field = LeafField(request, path, &repeated);
  if (field == nullptr) {
    std::fprintf(stderr, "trellisctl: internal error: %s has no field %s (flag --%s)\n",
                 std::string(request->full_name()).c_str(), path.c_str(), name.c_str());
    std::abort();
  }
  Flag flag;
  flag.name = std::move(name);
  flag.help = std::move(help);
  flag.field = std::move(path);
  flag.repeated = repeated;
  // Free text under a repeated message (a concern's text) may hold commas.
  flag.split_commas = field->is_repeated() || field->cpp_type() != FieldDescriptor::CPPTYPE_STRING;
  DescribeValue(field, flag);
  return flag;
}

absl::StatusOr<int> ParseEnum(const EnumDescriptor* type, absl::string_view text) {
  std::string norm = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  absl::StrReplaceAll({{"-", "_"}, {" ", "_"}}, &norm);
  if (!norm.empty()) {
    if (const auto* v = type->FindValueByName(norm)) return v->number();
    if (const auto* v = type->FindValueByName(EnumPrefix(type) + norm)) return v->number();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("expected one of ", EnumChoices(type), ", got '", text, "'"));
}

std::string EnumChoices(const EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() == 0) continue;
    names.push_back(EnumDisplayName(type->value(i)));
  }
  return absl::StrJoin(names, "|");
}

absl::StatusOr<absl::Time> ParseInstant(absl::string_view text, absl::Time now) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  if (absl::ConsumePrefix(&t, "now")) {
    if (t.empty()) return now;
    absl::StatusOr<absl::Duration> d = ParseCliDuration(t);
    if (!d.ok() || !(absl::StartsWith(t, "-") || absl::StartsWith(t, "+"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected now, now-DURATION or now+DURATION, got '", text, "'"));
    }
    return now + *d;
  }
  absl::Time out;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, std::string(t), &out, &err)) return out;
  absl::CivilDay day;
  if (absl::ParseCivilTime(t, &day)) return absl::FromCivil(day, absl::UTCTimeZone());
  return absl::InvalidArgumentError(absl::StrCat(
      "expected an RFC 3339 time (2024-03-10T20:00:00Z), a date, or now-14d, got '", text, "'"));
}

absl::StatusOr<v1::LocalDate> ParseLocalDate(absl::string_view text, absl::Time now) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  absl::CivilDay day;
  if (absl::ConsumePrefix(&t, "today")) {
    day = absl::ToCivilDay(now, absl::UTCTimeZone());
    if (!t.empty()) {
      absl::StatusOr<absl::Duration> d = ParseCliDuration(t);
      absl::Duration rem;
      int64_t days = d.ok() ? absl::IDivDuration(*d, absl::Hours(24), &rem) : 0;
      if (!d.ok() || rem != absl::ZeroDuration() ||
          !(absl::StartsWith(t, "-") || absl::StartsWith(t, "+"))) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected today, today+Nd or today-Nw (whole days), got '", text, "'"));
      }
      day += days;
    }
  } else if (!absl::ParseCivilTime(t, &day)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a date YYYY-MM-DD, today or today+12w, got '", text, "'"));
  }
  v1::LocalDate out;
  out.set_year(static_cast<int32_t>(day.year()));
  out.set_month(day.month());
  out.set_day(day.day());
  return out;
}

absl::StatusOr<v1::LocalDateTime> ParseLocalDateTime(absl::string_view text) {
  std::string t(absl::StripAsciiWhitespace(text));
  absl::StrReplaceAll({{" ", "T"}}, &t);
  absl::CivilSecond s;
  absl::CivilMinute m;
  if (absl::ParseCivilTime(t, &s)) {
  } else if (absl::ParseCivilTime(t, &m)) {
    s = absl::CivilSecond(m);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a local date-time YYYY-MM-DDTHH:MM[:SS] (no zone), got '", text, "'"));
  }
  v1::LocalDateTime out;
  out.set_year(static_cast<int32_t>(s.year()));
  out.set_month(s.month());
  out.set_day(s.day());
  out.set_hours(s.hour());
  out.set_minutes(s.minute());
  out.set_seconds(s.second());
  return out;
}

absl::Status SetFieldFromText(Message& message, absl::string_view path,
                              const std::vector<std::string>& values, absl::Time now) {
  auto [head, rest] = std::pair<absl::string_view, absl::string_view>(
      absl::StrSplit(path, absl::MaxSplits('.', 1)));
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(std::string(head));
  if (field == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(message.GetDescriptor()->full_name(), " has no field ", head));
  }
  const Reflection* r = message.GetReflection();
  if (!rest.empty()) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::NotFoundError(absl::StrCat(head, " is not a message"));
    }
    if (!field->is_repeated()) {
      return SetFieldFromText(*r->MutableMessage(&message, field), rest, values, now);
    }
    r->ClearField(&message, field);
    for (const std::string& value : values) {
      absl::Status s = SetFieldFromText(*r->AddMessage(&message, field), rest, {value}, now);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (!field->is_repeated()) {
    if (values.empty()) return absl::InvalidArgumentError("needs a value");
    return SetOne(message, field, values.back(), /*add=*/false, now);
  }
  r->ClearField(&message, field);
  for (const std::string& value : values) {
    absl::Status s = SetOne(message, field, value, /*add=*/true, now);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ApplyFieldFlags(const ParsedArgs& args, Message& request,
                                                         absl::Time now) {
  std::vector<std::string> set;
  for (const Command* c : args.path()) {
    for (const Flag& f : c->flags) {
      if (f.field.empty() || !args.IsSet(f.name)) continue;
      std::vector<std::string> values;
      if (f.repeated) {
        values = args.GetAll(f.name);
      } else {
        values.push_back(args.GetOr(f.name));
      }
      absl::Status s = SetFieldFromText(request, f.field, values, now);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("--", f.name, ": ", s.message()));
      set.push_back(f.field);
    }
  }
  return set;
}

absl::Status MergeJson(absl::string_view json, Message& message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = false;
  std::unique_ptr<Message> parsed(message.New());
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), parsed.get(), options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a ", message.GetDescriptor()->full_name(),
                     " in protobuf JSON: ", std::string(status.message())));
  }
  message.MergeFrom(*parsed);
  return absl::OkStatus();
}

}  // namespace trellis::cli
