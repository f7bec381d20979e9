#pragma once

// One run of a trellisctl leaf command: its parsed flags, the connection to the services, where
// output goes, and the conventions every command shares:
//   exit 0 on success; 1 when a call failed (stderr: "error: <CODE>: <message>" and the error
//   details) or `health` found a service not serving; 2 for a usage problem (a bad flag or value,
//   an unreadable file, no token) reported before anything is sent.
//   --output json prints the response in the protobuf JSON mapping; table prints it for people.
//   --json / --json_file give the whole request in protobuf JSON; field flags apply on top.

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/connection.h"
#include "trellis/v1/audit.grpc.pb.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Which address a generated service's stub reaches. The audit trail is served by every binary;
// trellisctl asks the goal service.
template <typename Stub>
inline constexpr Service kServiceOf = Service::kGoals;
template <>
inline constexpr Service kServiceOf<trellis::v1::MeasurementService::Stub> = Service::kMeasurements;
template <>
inline constexpr Service kServiceOf<trellis::v1::ReminderService::Stub> = Service::kReminders;

// A unary method of a generated stub, e.g. &trellis::v1::GoalService::Stub::GetGoal.
template <typename Stub, typename Request, typename Response>
using UnaryMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

class Invocation {
 public:
  Invocation(const ParsedArgs& args, std::unique_ptr<Connection> connection, std::ostream& out,
             std::ostream& err, absl::Time now)
      : args_(args), connection_(std::move(connection)), out_(out), err_(err), now_(now) {}

  const ParsedArgs& args() const { return args_; }
  absl::Time now() const { return now_; }
  bool json() const { return args_.GetOr("output") == "json"; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  // Null for commands that reach no service (token).
  Connection* connection() { return connection_.get(); }

  // Reports a local problem and returns kExitUsage.
  int UsageError(const absl::Status& status);
  // Reports a failed call and returns kExitFailed.
  int RpcError(const grpc::Status& status);

  // The request from --json or --json_file, then every set field flag on top. Returns the field
  // paths the flags set (UpdateGoal's mask comes from them).
  absl::StatusOr<std::vector<std::string>> BuildRequest(google::protobuf::Message& request);

  // One unary call with the token and --deadline.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(UnaryMethod<Stub, Request, Response> method, const Request& request,
                    Response* response) {
    Stub stub(connection_->Channel(kServiceOf<Stub>));
    std::unique_ptr<grpc::ClientContext> ctx = connection_->NewContext();
    return (stub.*method)(ctx.get(), request, response);
  }

  // Prints `response` as JSON, or as `table(response)` (default: its set fields, one per line).
  void Print(const google::protobuf::Message& response,
             const std::function<std::string()>& table = nullptr);

 private:
  const ParsedArgs& args_;
  std::unique_ptr<Connection> connection_;
  std::ostream& out_;
  std::ostream& err_;
  absl::Time now_;
};

using Action = std::function<int(Invocation&)>;

// What a leaf needs before it runs.
enum class Needs {
  kNothing,     // local only (token)
  kConnection,  // reaches services without a token (health)
  kToken,       // reaches services with a token (every RPC command)
};

// A Handler that checks --output, builds the connection (per `needs`), and runs `action`.
Handler Run(Needs needs, const Action& action);

// --json and --json_file, added to every command that sends a request.
std::vector<Flag> JsonInputFlags();

struct CommandInfo {
  std::string name{};
  std::string summary{};
  std::string description{};
  std::string positional{};
  // For a List request: whether --all may merge pages into one answer (not for answers that are
  // a document per page, such as FHIR bundles).
  bool merge_pages = true;
};

// --request_id for a request with an idempotency key.
Flag RequestIdFlag(const google::protobuf::Descriptor* request);

// Adds the paging flags (--page_size, --page_token, and --all with `merge_pages`) of a request
// that has them.
void AddPagingFlags(const google::protobuf::Descriptor* request, bool merge_pages,
                    std::vector<Flag>& flags);

// Calls a List method, following next_page_token while --all is set (at most 10 000 pages), and
// merges the pages into `response` (its next_page_token is then empty).
template <typename Stub, typename Request, typename Response>
grpc::Status CallPaged(Invocation& inv, UnaryMethod<Stub, Request, Response> method,
                       Request request, Response* response) {
  absl::StatusOr<bool> all = inv.args().GetBool("all");
  bool follow = all.ok() && *all;
  for (int page = 0; page < 10000; ++page) {
    Response one;
    grpc::Status status = inv.Call(method, request, &one);
    if (!status.ok()) return status;
    response->MergeFrom(one);
    if (!follow || one.next_page_token().empty()) break;
    request.set_page_token(one.next_page_token());
    response->clear_next_page_token();
  }
  return grpc::Status::OK;
}

// Adjusts a request after its flags were applied (defaults that depend on other fields, values
// read from the service first). `flag_paths` are the fields the flags set. Returns an exit status
// (after reporting) to stop, nullopt to send the request.
template <typename Request>
using Prepare = std::function<std::optional<int>(Invocation&, Request&,
                                                 const std::vector<std::string>& flag_paths)>;

template <typename Response>
using TableView = std::function<std::string(const Response&)>;

// A leaf that builds `Request` from --json and its flags, lets `prepare` adjust it, calls
// `method` and prints the response with `table` (default: every set field). Requests with paging
// get the paging flags.
template <typename Stub, typename Request, typename Response>
Command UnaryCommand(CommandInfo info, UnaryMethod<Stub, Request, Response> method,
                     std::vector<Flag> flags,
                     std::type_identity_t<TableView<Response>> table = nullptr,
                     std::type_identity_t<Prepare<Request>> prepare = nullptr) {
  constexpr bool kPaged = requires(Request r) { r.set_page_token(""); };
  if constexpr (kPaged) AddPagingFlags(Request::descriptor(), info.merge_pages, flags);
  for (Flag& f : JsonInputFlags()) flags.push_back(std::move(f));
  Command cmd{.name = std::move(info.name),
              .summary = std::move(info.summary),
              .description = std::move(info.description),
              .positional = std::move(info.positional),
              .flags = std::move(flags)};
  cmd.run = Run(Needs::kToken, [method, table, prepare](Invocation& inv) {
    Request request;
    absl::StatusOr<std::vector<std::string>> paths = inv.BuildRequest(request);
    if (!paths.ok()) return inv.UsageError(paths.status());
    if (prepare) {
      if (std::optional<int> stop = prepare(inv, request, *paths)) return *stop;
    }
    Response response;
    grpc::Status status;
    if constexpr (kPaged) {
      status = CallPaged(inv, method, request, &response);
    } else {
      status = inv.Call(method, request, &response);
    }
    if (!status.ok()) return inv.RpcError(status);
    if (table) {
      inv.Print(response, [&] { return table(response); });
    } else {
      inv.Print(response);
    }
    if constexpr (kPaged) {
      // JSON carries nextPageToken itself; people are told on stderr, keeping stdout a table
      // (or a document) that tools can read.
      if (!inv.json() && !response.next_page_token().empty()) {
        inv.err() << "next page: --page_token " << response.next_page_token() << "\n";
      }
    }
    return kExitOk;
  });
  return cmd;
}

// The whole tree: the root with the global flags and every resource group.
Command TrellisctlCommand();

// The resource groups (one file each under cli/commands/).
Command GoalsCommand();
Command MeasureCommand();
Command MetricsCommand();
Command RemindersCommand();
Command TokenCommand();
Command AuditCommand();
Command HealthCommand();

// `measure progress` (progress.cc).
Command ProgressCommand();

// "patients/p1/goals/g1" -> "p1"; "" when `name` does not start with "patients/<id>/".
std::string PatientOfName(absl::string_view name);

}  // namespace trellis::cli
