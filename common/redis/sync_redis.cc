#include "common/redis/sync_redis.h"

#include <memory>

#include "absl/synchronization/notification.h"

namespace trellis::redis {
namespace {

struct Waiter {
  absl::Notification done;
  absl::StatusOr<Reply> result;
};

}  // namespace

absl::StatusOr<Reply> SyncRedis::Run(std::vector<std::string> args, CallOptions options) {
  auto waiter = std::make_shared<Waiter>();
  client_->Execute(
      std::move(args),
      [waiter](absl::StatusOr<Reply> r) {
        waiter->result = std::move(r);
        waiter->done.Notify();
      },
      options);
  waiter->done.WaitForNotification();
  return std::move(waiter->result);
}

absl::StatusOr<Reply> SyncRedis::Eval(const Script& script, std::vector<std::string> keys,
                                      std::vector<std::string> args, CallOptions options) {
  auto waiter = std::make_shared<Waiter>();
  client_->Eval(
      script, std::move(keys), std::move(args),
      [waiter](absl::StatusOr<Reply> r) {
        waiter->result = std::move(r);
        waiter->done.Notify();
      },
      options);
  waiter->done.WaitForNotification();
  return std::move(waiter->result);
}

}  // namespace trellis::redis
