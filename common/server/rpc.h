#pragma once

// Small helpers every gRPC handler uses at the edge.

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status/status.h"

namespace trellis::server {

// The deadline for storage calls made for this RPC: the caller's deadline, capped so a call
// without one still ends.
inline absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx,
                             absl::Duration cap = absl::Seconds(10)) {
  absl::Time caller = absl::FromChrono(ctx.deadline());
  return std::min(caller, absl::Now() + cap);
}

// Finishes a unary reactor with a domain status (mapped with details).
inline void Finish(grpc::ServerUnaryReactor* reactor, const absl::Status& status) {
  reactor->Finish(ToGrpcStatus(status));
}

// Answers an idempotent write: the stored first response when the store replayed a request_id,
// else `fresh`. `WriteResult` is a store's result type with `bool replayed` and the serialized
// first response in `std::string result`.
template <typename Message, typename WriteResult>
void FinishWrite(grpc::ServerUnaryReactor* reactor, Message* response,
                 const absl::StatusOr<WriteResult>& written, const Message& fresh) {
  if (!written.ok()) return Finish(reactor, written.status());
  if (written->replayed) {
    response->ParseFromString(written->result);
  } else {
    *response = fresh;
  }
  Finish(reactor, absl::OkStatus());
}

}  // namespace trellis::server
