#include "common/server/interceptors.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/calls/call_map.h"
#include "common/log/log.h"

namespace trellis::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";
constexpr absl::string_view kReflectionPrefix = "/grpc.reflection.";

// The trace context of every call in flight, by server context.
calls::CallMap<trace::CallContext>& Traces() {
  static auto* traces = new calls::CallMap<trace::CallContext>();
  return *traces;
}

absl::string_view MetadataValue(const std::multimap<grpc::string_ref, grpc::string_ref>* md,
                                absl::string_view key) {
  if (md == nullptr) return "";
  auto it = md->find(grpc::string_ref(key.data(), key.size()));
  return it == md->end() ? absl::string_view()
                         : absl::string_view(it->second.data(), it->second.size());
}

// gRPC's codes are absl's, number for number ("NOT_FOUND", ...).
std::string CodeName(grpc::StatusCode code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
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
      : ctx_(info->server_context()),
        method_(info->method()),
        type_(TypeName(info->type())),
        observer_(observer),
        start_(absl::Now()) {
    if (observer_ != nullptr) observer_->OnRpcStart(method_, type_);
  }
  ~AccessLogInterceptor() override { Traces().Erase(ctx_); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      // Before the handler runs: it finds the context through TraceOf.
      auto* md = methods->GetRecvInitialMetadata();
      trace_ = std::make_shared<trace::CallContext>(
          trace::ServerCallContext(MetadataValue(md, trace::kTraceparentHeader),
                                   MetadataValue(md, trace::kRequestIdHeader)));
      Traces().Put(ctx_, trace_);
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
        // A call that ends before its metadata arrived still gets ids of its own.
        if (trace_ == nullptr) {
          trace_ = std::make_shared<trace::CallContext>(trace::ServerCallContext("", ""));
        }
        log::Fields fields;
        fields.Add("method", method_)
            .Add("code", CodeName(status.error_code()))
            .Add("latency_ms", absl::ToDoubleMilliseconds(latency))
            .Add("trace_id", trace_->span.trace_id)
            .Add("span_id", trace_->span.span_id);
        if (!trace_->parent_id.empty()) fields.Add("parent_span_id", trace_->parent_id);
        fields.Add("request_id", trace_->request_id);
        log::Write(level, "rpc", fields);
      }
    }
    methods->Proceed();
  }

 private:
  const void* ctx_;
  std::string method_;
  absl::string_view type_;
  metrics::RpcObserver* observer_;
  absl::Time start_;
  std::shared_ptr<trace::CallContext> trace_;
};

}  // namespace

trace::CallContext TraceOf(const grpc::ServerContextBase& ctx) {
  std::shared_ptr<trace::CallContext> found = Traces().Get(&ctx);
  return found != nullptr ? *found : trace::CallContext{};
}

grpc::experimental::Interceptor* AccessLogInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new AccessLogInterceptor(info, observer_);
}

}  // namespace trellis::server
