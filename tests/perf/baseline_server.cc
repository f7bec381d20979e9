// The bare-gRPC baseline of the benchmark (tests/perf, issue 9): a callback-API server answering an
// empty unary call and nothing else. It takes the transport settings every Trellis service sets
// (common/server/host.cc: no port sharing, the same message size limits) and none of the work
// (interceptors, access log, auth, Redis), so a service scenario's throughput divided by this
// server's, at the same load, is the share of the physical limit the service keeps.
//
// Prints one JSON line {"msg":"listening","port":N} on stdout once it serves (the services' own
// start-up line, which the bench runner waits for); SIGTERM or SIGINT stops it.
//
//   build/tests/perf/trellis-perf-baseline --port=0

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "baseline.grpc.pb.h"

ABSL_FLAG(std::string, listen_host, "127.0.0.1", "Address to bind.");
ABSL_FLAG(int, port, 0, "Port; 0 picks a free one (printed at start-up).");

namespace trellis::perf {
namespace {

class BaselineService final : public baseline::BaselineService::CallbackService {
  grpc::ServerUnaryReactor* Empty(grpc::CallbackServerContext* context,
                                  const google::protobuf::Empty* /*request*/,
                                  google::protobuf::Empty* /*response*/) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Set by the signal handler (only a sig_atomic_t store is async-signal-safe); main polls it.
volatile std::sig_atomic_t signalled = 0;

void Handle(int /*signal*/) { signalled = 1; }

int RunServer() {
  BaselineService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      absl::StrCat(absl::GetFlag(FLAGS_listen_host), ":", absl::GetFlag(FLAGS_port)),
      grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  builder.SetMaxSendMessageSize(4 * 1024 * 1024);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "baseline: cannot listen\n");
    return 1;
  }
  std::printf("{\"msg\":\"listening\",\"port\":%d}\n", port);
  std::fflush(stdout);
  std::signal(SIGTERM, Handle);
  std::signal(SIGINT, Handle);
  while (!signalled) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

}  // namespace
}  // namespace trellis::perf

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return trellis::perf::RunServer();
}
