#include "cli/commands/invocation.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/proto_input.h"
#include "cli/proto_output.h"
#include "cli/rpc_error.h"

namespace trellis::cli {

int Invocation::UsageError(const absl::Status& status) {
  err_ << "error: " << status.message() << " (see '" << args_.CommandLine() << " --help')\n";
  return kExitUsage;
}

int Invocation::RpcError(const grpc::Status& status) {
  err_ << "error: " << DescribeRpcError(status) << "\n";
  return kExitFailed;
}

absl::StatusOr<std::vector<std::string>> Invocation::BuildRequest(
    google::protobuf::Message& request) {
  if (args_.IsSet("json") && args_.IsSet("json_file")) {
    return absl::InvalidArgumentError("--json and --json_file: give one of them");
  }
  if (args_.IsSet("json") || args_.IsSet("json_file")) {
    std::string text;
    if (args_.IsSet("json")) {
      text = args_.GetOr("json");
    } else {
      absl::StatusOr<std::string> read = ReadFileForFlag(args_.GetOr("json_file"), "json_file");
      if (!read.ok()) return read.status();
      text = *read;
    }
    if (absl::Status s = MergeJson(text, request); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--json: ", s.message()));
    }
  }
  return ApplyFieldFlags(args_, request, now_);
}

void Invocation::Print(const google::protobuf::Message& response,
                       const std::function<std::string()>& table) {
  if (json()) {
    out_ << ToJson(response) << "\n";
    return;
  }
  std::string text = table ? table() : RenderMessage(response);
  if (!text.empty() && text.back() != '\n') text += '\n';
  out_ << text;
}

Handler Run(Needs needs, const Action& action) {
  return [needs, action](const ParsedArgs& args) {
    std::string output = args.GetOr("output");
    if (output != "table" && output != "json") {
      std::cerr << "error: --output: expected table or json, got '" << output << "'\n";
      return kExitUsage;
    }
    std::unique_ptr<Connection> connection;
    if (needs != Needs::kNothing) {
      absl::StatusOr<ConnectionOptions> options =
          ConnectionOptionsFrom(args, needs == Needs::kToken);
      if (!options.ok()) {
        std::cerr << "error: " << options.status().message() << "\n";
        return kExitUsage;
      }
      connection = std::make_unique<Connection>(*std::move(options));
    }
    Invocation inv(args, std::move(connection), std::cout, std::cerr, absl::Now());
    return action(inv);
  };
}

std::vector<Flag> JsonInputFlags() {
  return {
      {.name = "json",
       .value_name = "JSON",
       .help = "The whole request in protobuf JSON (as in the proto, lowerCamelCase or "
               "snake_case names); flags given as well are applied on top."},
      {.name = "json_file",
       .value_name = "FILE",
       .help = "As --json, read from FILE (\"-\": standard input)."},
  };
}

Flag RequestIdFlag(const google::protobuf::Descriptor* request) {
  return FieldFlag(request, "request_id", "request_id",
                   "Idempotency key: a retry with the same id returns the first result.");
}

void AddPagingFlags(const google::protobuf::Descriptor* request, bool merge_pages,
                    std::vector<Flag>& flags) {
  flags.push_back(
      FieldFlag(request, "page_size", "page_size", "Results per page (0: the method's default)."));
  flags.push_back(FieldFlag(request, "page_token", "page_token",
                            "Continue from a previous answer's next_page_token."));
  if (merge_pages) {
    flags.push_back(
        {.name = "all", .help = "Follow next_page_token and print every page as one answer."});
  }
}

std::string PatientOfName(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() < 2 || parts[0] != "patients" || parts[1].empty()) return "";
  return std::string(parts[1]);
}

}  // namespace trellis::cli
