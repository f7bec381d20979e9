#include "common/server/interceptors.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/log/log.h"

namespace trellis::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";
constexpr absl::string_view kReflectionPrefix = "/grpc.reflection.";

std::string CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  int c = static_cast<int>(code);
  return (c >= 0 && c <= 16) ? kNames[c] : "UNKNOWN";
}

absl::string_view TypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::CLIENT_STREAMING: return "client_stream";
    case Type::SERVER_STREAMING: return "server_stream";
    case Type::BIDI_STREAMING: return "bidi_stream";
    default: return "unary";
  }
}

class AccessLogInterceptor final : public grpc::experimental::Interceptor {
 public:
  AccessLogInterceptor(grpc::experimental::ServerRpcInfo* info, metrics::RpcObserver* observer)
      : method_(info->method()),
        type_(TypeName(info->type())),
        observer_(observer),
        start_(absl::Now()) {
    if (observer_ != nullptr) observer_->OnRpcStart(method_, type_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      if (md != nullptr) {
        auto it = md->find("traceparent");
        if (it != md->end()) {
          trace_id_ =
              TraceIdFromTraceparent(absl::string_view(it->second.data(), it->second.size()));
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      absl::Duration latency = absl::Now() - start_;
      if (observer_ != nullptr) observer_->OnRpcEnd(method_, type_, status.error_code(), latency);
      bool quiet =
          absl::StartsWith(method_, kHealthPrefix) || absl::StartsWith(method_, kReflectionPrefix);
      log::Level level = quiet ? log::Level::kDebug
                         : status.error_code() == grpc::StatusCode::INTERNAL ||
                                 status.error_code() == grpc::StatusCode::UNKNOWN
                             ? log::Level::kError
                             : log::Level::kInfo;
      if (log::Enabled(level)) {
        nlohmann::json fields = {{"method", method_},
                                 {"code", CodeName(status.error_code())},
                                 {"latency_ms", absl::ToDoubleMilliseconds(latency)}};
        if (!trace_id_.empty()) fields["trace_id"] = trace_id_;
        log::Write(level, "rpc", fields);
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  absl::string_view type_;
  metrics::RpcObserver* observer_;
  absl::Time start_;
  std::string trace_id_;
};

}  // namespace

std::string TraceIdFromTraceparent(absl::string_view tp) {
  // version "-" trace-id(32 hex) "-" parent-id(16 hex) "-" flags(2 hex)
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-') return "";
  absl::string_view id = tp.substr(3, 32);
  bool all_zero = true;
  for (char c : id) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return "";
    if (c != '0') all_zero = false;
  }
  return all_zero ? "" : std::string(id);
}

grpc::experimental::Interceptor* AccessLogInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new AccessLogInterceptor(info, observer_);
}

}  // namespace trellis::server
