#pragma once

// How trellisctl names enum values for people: without the type's prefix, lower case, "-" for
// "_" (GOAL_LIFECYCLE_STATUS_ON_HOLD is "on-hold"), matching the FHIR codes where there are some.
// The same names are accepted as input (proto_input.h).

#include <string>

#include <google/protobuf/descriptor.h>

namespace trellis::cli {

// "GOAL_LIFECYCLE_STATUS_" for trellis.v1.GoalLifecycleStatus: the type name in UPPER_SNAKE_CASE
// and "_", which every value of our enums starts with (the style guide's rule).
std::string EnumPrefix(const google::protobuf::EnumDescriptor* type);

// "on-hold" for GOAL_LIFECYCLE_STATUS_ON_HOLD; the full name, lower-cased, when the value does
// not start with the prefix.
std::string EnumDisplayName(const google::protobuf::EnumValueDescriptor* value);

}  // namespace trellis::cli
