#include "common/redis/async_pool.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "common/redis/resp.h"
#include "common/status/status.h"

namespace trellis::redis {
namespace {

// How often each loop's watchdog looks for commands past their deadline.
constexpr absl::Duration kWatchdogTick = absl::Milliseconds(20);

CommandError ErrorOfReply(absl::string_view error_text) {
  switch (ClassifyErrorReply(error_text)) {
    case ErrorReplyKind::kScriptOutcome:
      return CommandError::kNone;
    case ErrorReplyKind::kTransient:
      return CommandError::kTransient;
    case ErrorReplyKind::kOther:
      break;
  }
  return CommandError::kReply;
}

absl::Status ConnectionLost() {
  return UnavailableError("storage connection lost", "STORE_UNAVAILABLE");
}

}  // namespace

// One command on its way through a loop. Owned by the queue, then by hiredis (as privdata) until
// hiredis calls back, which it always does: with the reply, or with null when the connection goes.
struct RedisPool::Request {
  std::string formatted;
  ReplyCallback done;
  absl::Time deadline;
  // For the observer: when the caller handed the command over, and its name (scripts: the
  // script's).
  CommandObserver* observer = nullptr;
  absl::Time start;
  std::string command;
  // For the NOSCRIPT fallback: the script and its keys+args, to resend as EVAL once.
  const Script* script = nullptr;
  std::vector<std::string> keys;
  std::vector<std::string> args;
  bool resent_as_eval = false;

  // Loop-thread state.
  bool completed = false;
  absl::Time sent_time;
  std::multimap<absl::Time, Request*>::iterator deadline_it;
  bool in_deadline_index = false;

  void Complete(absl::StatusOr<Reply> result, CommandError error) {
    if (completed) return;
    completed = true;
    if (observer != nullptr) {
      observer->OnCommand(script != nullptr ? absl::string_view(script->name()) : command,
                          script != nullptr, absl::Now() - start, error);
    }
    done(std::move(result));
  }
};

class RedisPool::Loop {
 public:
  Loop(const PoolOptions& options, int index) : options_(options), index_(index) {
    base_ = event_base_new();
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wake_ev_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &Loop::OnWakeThunk, this);
    event_add(wake_ev_, nullptr);
    watchdog_ev_ = event_new(base_, -1, EV_PERSIST, &Loop::OnWatchdogThunk, this);
    timeval tick = absl::ToTimeval(kWatchdogTick);
    event_add(watchdog_ev_, &tick);
    reconnect_ev_ = evtimer_new(base_, &Loop::OnReconnectThunk, this);
    connect_timeout_ev_ = evtimer_new(base_, &Loop::OnConnectTimeoutThunk, this);
    backoff_ = options_.min_backoff;
    thread_ = std::thread([this] {
      Connect();
      event_base_dispatch(base_);
    });
  }

  ~Loop() {
    Stop();
    if (thread_.joinable()) thread_.join();
    event_free(wake_ev_);
    event_free(watchdog_ev_);
    event_free(reconnect_ev_);
    event_free(connect_timeout_ev_);
    close(wake_fd_);
    event_base_free(base_);
  }

  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Any thread.
  void Enqueue(std::unique_ptr<Request> request) {
    bool wake = false;
    bool accepted = false;
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        accepted = true;
        wake = queue_.empty();
        queue_.push_back(std::move(request));
      }
    }
    if (!accepted) {
      request->Complete(UnavailableError("storage client is shutting down", "SHUTTING_DOWN"),
                        CommandError::kIo);
      return;
    }
    if (wake) Wake();
  }

  // Any thread. Completes everything and ends the loop.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    Wake();
  }

 private:
  void Wake() {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof(one));
    (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  }

  // ---- loop thread only below ----

  static void OnWakeThunk(evutil_socket_t, short, void* self) {
    static_cast<Loop*>(self)->OnWake();
  }
  static void OnWatchdogThunk(evutil_socket_t, short, void* self) {
    static_cast<Loop*>(self)->OnWatchdog();
  }
  static void OnReconnectThunk(evutil_socket_t, short, void* self) {
    static_cast<Loop*>(self)->Connect();
  }
  static void OnConnectTimeoutThunk(evutil_socket_t, short, void* self) {
    static_cast<Loop*>(self)->OnConnectTimeout();
  }
  static void OnConnectThunk(const redisAsyncContext* ac, int status) {
    static_cast<Loop*>(ac->data)->OnConnect(status);
  }
  static void OnDisconnectThunk(const redisAsyncContext* ac, int status) {
    static_cast<Loop*>(ac->data)->OnDisconnect(status);
  }
  static void OnReplyThunk(redisAsyncContext* ac, void* reply, void* privdata) {
    static_cast<Loop*>(ac->data)->OnReply(ac, static_cast<redisReply*>(reply),
                                          static_cast<Request*>(privdata));
  }
  static void OnHandshakeThunk(redisAsyncContext* ac, void* reply, void*) {
    static_cast<Loop*>(ac->data)->OnHandshake(ac, static_cast<redisReply*>(reply));
  }

  void OnWake() {
    uint64_t count;
    ssize_t n = read(wake_fd_, &count, sizeof(count));
    (void)n;
    std::vector<std::unique_ptr<Request>> batch;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      batch.swap(queue_);
      stopping = stopping_;
    }
    for (auto& request : batch) Send(std::move(request));
    if (stopping) Shutdown();
  }

  void Send(std::unique_ptr<Request> request) {
    if (ctx_ == nullptr || !ready()) {
      request->Complete(UnavailableError("storage is not connected", "STORE_UNAVAILABLE"),
                        CommandError::kIo);
      return;
    }
    Request* r = request.get();
    if (redisAsyncFormattedCommand(ctx_, &Loop::OnReplyThunk, r, r->formatted.data(),
                                   r->formatted.size()) != REDIS_OK) {
      request->Complete(ConnectionLost(), CommandError::kIo);
      return;
    }
    // hiredis calls back exactly once; OnReply takes ownership back and deletes it.
    static_cast<void>(request.release());
    r->sent_time = absl::Now();
    r->deadline_it = deadlines_.emplace(r->deadline, r);
    r->in_deadline_index = true;
  }

  void Unindex(Request* r) {
    if (r->in_deadline_index) {
      deadlines_.erase(r->deadline_it);
      r->in_deadline_index = false;
    }
  }

  void OnReply(redisAsyncContext* ac, redisReply* reply, Request* r) {
    std::unique_ptr<Request> owned(r);
    if (reply == nullptr) {
      Unindex(r);
      r->Complete(ConnectionLost(), CommandError::kIo);
      return;
    }
    last_reply_time_ = absl::Now();
    if (reply->type == REDIS_REPLY_ERROR) {
      absl::string_view text(reply->str, reply->len);
      if (r->script != nullptr && !r->resent_as_eval && absl::StartsWith(text, "NOSCRIPT")) {
        // The server lost its script cache (restart, SCRIPT FLUSH): EVAL loads it again.
        r->resent_as_eval = true;
        std::string nkeys = absl::StrCat(r->keys.size());
        r->formatted = FormatCommand({"EVAL", r->script->body(), nkeys}, r->keys, r->args);
        if (redisAsyncFormattedCommand(ac, &Loop::OnReplyThunk, r, r->formatted.data(),
                                       r->formatted.size()) == REDIS_OK) {
          static_cast<void>(owned.release());  // owned by hiredis again until the reply
          return;
        }
        Unindex(r);
        r->Complete(ConnectionLost(), CommandError::kIo);
        return;
      }
      Unindex(r);
      r->Complete(ErrorReplyToStatus(text), ErrorOfReply(text));
      return;
    }
    Unindex(r);
    r->Complete(Reply::FromHiredis(*reply), CommandError::kNone);
  }

  void OnWatchdog() {
    absl::Time now = absl::Now();
    bool stalled = false;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      Request* r = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      r->in_deadline_index = false;
      // No reply at all since this command went out, for a whole command timeout: the connection
      // is stuck (a hung server or a silent network), not merely slow on one command.
      if (last_reply_time_ < r->sent_time && now - r->sent_time >= options_.command_timeout) {
        stalled = true;
      }
      r->Complete(UnavailableError("storage did not answer in time", "STORE_UNAVAILABLE"),
                  CommandError::kTimeout);
      // The request object stays alive until hiredis calls back.
    }
    if (stalled && ctx_ != nullptr) {
      log::Warn("redis connection stalled; reconnecting", {{"loop", index_}});
      DropConnection();
    }
  }

  void DropConnection() {
    redisAsyncContext* ac = ctx_;
    ready_.store(false, std::memory_order_release);
    // Frees the context now (we are not inside a hiredis callback): pending callbacks get a null
    // reply, then OnDisconnect runs if the connection had been established.
    redisAsyncFree(ac);
    if (ctx_ == ac) {  // never-connected contexts get no disconnect callback
      ctx_ = nullptr;
      ScheduleReconnect();
    }
  }

  void Connect() {
    if (IsStopping()) return;
    redisAsyncContext* ac =
        redisAsyncConnect(options_.endpoint.host.c_str(), options_.endpoint.port);
    if (ac == nullptr || ac->err) {
      log::Warn("redis connect failed", {{"loop", index_}, {"error", ac ? ac->errstr : "oom"}});
      if (ac != nullptr) redisAsyncFree(ac);
      ScheduleReconnect();
      return;
    }
    ac->data = this;
    redisLibeventAttach(ac, base_);
    redisAsyncSetConnectCallback(ac, &Loop::OnConnectThunk);
    redisAsyncSetDisconnectCallback(ac, &Loop::OnDisconnectThunk);
    ctx_ = ac;
    timeval tv = absl::ToTimeval(options_.connect_timeout);
    evtimer_add(connect_timeout_ev_, &tv);
  }

  void OnConnectTimeout() {
    if (ctx_ == nullptr || (ctx_->c.flags & REDIS_CONNECTED)) return;
    log::Warn("redis connect timed out", {{"loop", index_}});
    DropConnection();
  }

  void OnConnect(int status) {
    evtimer_del(connect_timeout_ev_);
    if (status != REDIS_OK) {
      // hiredis frees the context after this callback.
      if (!logged_down_) {
        log::Warn("redis connection refused", {{"loop", index_}, {"error", ctx_->errstr}});
        logged_down_ = true;
      }
      ctx_ = nullptr;
      ScheduleReconnect();
      return;
    }
    // Handshake: AUTH, SELECT, SCRIPT LOAD. Replies arrive in order; ready after the last one.
    std::vector<std::vector<std::string>> commands;
    const auto& ep = options_.endpoint;
    if (!ep.password.empty()) {
      if (ep.user.empty())
        commands.push_back({"AUTH", ep.password});
      else
        commands.push_back({"AUTH", ep.user, ep.password});
    }
    if (ep.db != 0) commands.push_back({"SELECT", absl::StrCat(ep.db)});
    for (const Script* s : Script::All()) commands.push_back({"SCRIPT", "LOAD", s->body()});
    commands.push_back({"PING"});
    handshake_pending_ = static_cast<int>(commands.size());
    handshake_failed_ = false;
    for (const auto& c : commands) {
      std::string f = FormatCommand(c);
      redisAsyncFormattedCommand(ctx_, &Loop::OnHandshakeThunk, nullptr, f.data(), f.size());
    }
  }

  void OnHandshake(redisAsyncContext* ac, redisReply* reply) {
    if (reply == nullptr) return;  // the connection went; OnDisconnect handles it
    if (reply->type == REDIS_REPLY_ERROR && !handshake_failed_) {
      handshake_failed_ = true;
      log::Error("redis handshake failed",
                 {{"loop", index_},
                  {"redis_error", std::string(reply->str, std::min<size_t>(reply->len, 120))}});
      // Deferred by hiredis until this callback returns; then OnDisconnect reconnects later.
      redisAsyncFree(ac);
      return;
    }
    if (--handshake_pending_ == 0 && !handshake_failed_) {
      ready_.store(true, std::memory_order_release);
      backoff_ = options_.min_backoff;
      logged_down_ = false;
      last_reply_time_ = absl::Now();
      log::Info("redis connected",
                {{"loop", index_},
                 {"endpoint", absl::StrCat(options_.endpoint.host, ":", options_.endpoint.port)}});
    }
  }

  void OnDisconnect(int status) {
    bool was_ready = ready();
    ready_.store(false, std::memory_order_release);
    ctx_ = nullptr;
    if (IsStopping()) return;
    if (was_ready) {
      log::Warn("redis connection lost", {{"loop", index_}, {"clean", status == REDIS_OK}});
    }
    ScheduleReconnect();
  }

  void ScheduleReconnect() {
    if (IsStopping()) return;
    absl::Duration delay = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    // Jitter (±20%) keeps many replicas from reconnecting in lockstep.
    delay = delay * absl::Uniform(bitgen_, 0.8, 1.2);
    timeval tv = absl::ToTimeval(delay);
    evtimer_add(reconnect_ev_, &tv);
  }

  bool IsStopping() {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

  void Shutdown() {
    evtimer_del(reconnect_ev_);
    evtimer_del(connect_timeout_ev_);
    if (ctx_ != nullptr) {
      redisAsyncContext* ac = ctx_;
      ready_.store(false, std::memory_order_release);
      redisAsyncFree(ac);  // completes every pending command with a null reply
      ctx_ = nullptr;
    }
    // Anything still indexed was completed by the watchdog already or just now.
    deadlines_.clear();
    event_base_loopbreak(base_);
  }

  const PoolOptions& options_;
  const int index_;
  event_base* base_ = nullptr;
  int wake_fd_ = -1;
  event* wake_ev_ = nullptr;
  event* watchdog_ev_ = nullptr;
  event* reconnect_ev_ = nullptr;
  event* connect_timeout_ev_ = nullptr;
  std::thread thread_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Request>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<bool> ready_{false};
  // Loop-thread state.
  redisAsyncContext* ctx_ = nullptr;
  int handshake_pending_ = 0;
  bool handshake_failed_ = false;
  bool logged_down_ = false;
  absl::Duration backoff_;
  absl::Time last_reply_time_ = absl::InfinitePast();
  std::multimap<absl::Time, Request*> deadlines_;
  absl::BitGen bitgen_;
};

RedisPool::RedisPool(PoolOptions options) : options_(std::move(options)) {
  int n = std::max(1, options_.connections);
  loops_.reserve(n);
  for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<Loop>(options_, i));
}

RedisPool::~RedisPool() {
  Stop();
  loops_.clear();  // joins the threads
}

void RedisPool::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& loop : loops_) loop->Stop();
}

bool RedisPool::Ready() const { return ReadyConnections() > 0; }

int RedisPool::ReadyConnections() const {
  int n = 0;
  for (const auto& loop : loops_) n += loop->ready() ? 1 : 0;
  return n;
}

void RedisPool::Submit(std::unique_ptr<Request> request) {
  if (stopped_.load(std::memory_order_acquire)) {
    request->Complete(UnavailableError("storage client is shutting down", "SHUTTING_DOWN"),
                      CommandError::kIo);
    return;
  }
  // Round-robin over the ready connections.
  uint32_t start = next_.fetch_add(1, std::memory_order_relaxed);
  size_t n = loops_.size();
  for (size_t i = 0; i < n; ++i) {
    Loop* loop = loops_[(start + i) % n].get();
    if (loop->ready()) {
      loop->Enqueue(std::move(request));
      return;
    }
  }
  request->Complete(UnavailableError("storage is not connected", "STORE_UNAVAILABLE"),
                    CommandError::kIo);
}

void RedisPool::Execute(std::vector<std::string> args, ReplyCallback done, CallOptions options) {
  auto request = std::make_unique<Request>();
  request->formatted = FormatCommand(args);
  request->done = std::move(done);
  request->start = absl::Now();
  request->deadline = std::min(options.deadline, request->start + options_.command_timeout);
  request->observer = options_.observer;
  if (request->observer != nullptr && !args.empty()) request->command = std::move(args[0]);
  Submit(std::move(request));
}

void RedisPool::Eval(const Script& script, std::vector<std::string> keys,
                     std::vector<std::string> args, ReplyCallback done, CallOptions options) {
  auto request = std::make_unique<Request>();
  std::string nkeys = absl::StrCat(keys.size());
  request->formatted = FormatCommand({"EVALSHA", script.sha1(), nkeys}, keys, args);
  request->done = std::move(done);
  request->start = absl::Now();
  request->deadline = std::min(options.deadline, request->start + options_.command_timeout);
  request->observer = options_.observer;
  request->script = &script;
  request->keys = std::move(keys);
  request->args = std::move(args);
  Submit(std::move(request));
}

}  // namespace trellis::redis
