#include "common/redis/async_pool.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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
    case ErrorReplyKind::kRedirect:
      return CommandError::kRedirect;
    case ErrorReplyKind::kOther:
      break;
  }
  return CommandError::kReply;
}

constexpr absl::string_view kNotConnected = "storage is not connected";

absl::Status NotConnected() { return UnavailableError(kNotConnected, "STORE_UNAVAILABLE"); }

absl::Status ConnectionLost() {
  return UnavailableError("storage connection lost", "STORE_UNAVAILABLE");
}

// Tags the handshake's ROLE command (hiredis privdata) so that its reply is checked.
char kRoleCheck;

bool IsPrimaryRole(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0) return false;
  const redisReply& role = *reply.element[0];
  return (role.type == REDIS_REPLY_STRING || role.type == REDIS_REPLY_STATUS) &&
         absl::string_view(role.str, role.len) == "master";
}

// The address in a reply to SENTINEL get-master-addr-by-name, if it is one.
std::optional<config::HostPort> MasterAddressOf(const redisReply* reply) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING) {
    return std::nullopt;
  }
  config::HostPort hp;
  hp.host.assign(reply->element[0]->str, reply->element[0]->len);
  if (!absl::SimpleAtoi(absl::string_view(reply->element[1]->str, reply->element[1]->len),
                        &hp.port)) {
    return std::nullopt;
  }
  return hp;
}

// Asks the Sentinels, in turn from `*next`, for the primary of `master`; `*next` is left at the one
// that answered. A blocking hiredis connection with a short timeout: it runs on the loop thread
// before the loop connects, when the loop has no connection and so no commands in flight (at most
// a command racing a disconnect waits that long), and hiredis's async API has no connect-and-ask
// helper that would be simpler than this.
absl::StatusOr<config::HostPort> AskSentinels(const std::vector<config::HostPort>& sentinels,
                                              const std::string& master, absl::Duration timeout,
                                              size_t* next) {
  std::string last_error = "no Sentinel configured";
  for (size_t i = 0; i < sentinels.size(); ++i) {
    size_t at = (*next + i) % sentinels.size();
    const config::HostPort& sentinel = sentinels[at];
    timeval tv = absl::ToTimeval(timeout);
    redisContext* c = redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port, tv);
    std::string where = config::HostPortText(sentinel);
    if (c == nullptr || c->err) {
      last_error = absl::StrCat(where, ": ", c != nullptr ? c->errstr : "out of memory");
      if (c != nullptr) redisFree(c);
      continue;
    }
    redisSetTimeout(c, tv);
    auto* reply = static_cast<redisReply*>(
        redisCommand(c, "SENTINEL get-master-addr-by-name %b", master.data(), master.size()));
    std::optional<config::HostPort> found = MasterAddressOf(reply);
    if (reply == nullptr) {
      last_error = absl::StrCat(where, ": ", c->errstr);
    } else if (!found.has_value()) {
      last_error = reply->type == REDIS_REPLY_ERROR
                       ? absl::StrCat(where, ": ", absl::string_view(reply->str, reply->len))
                       : absl::StrCat(where, ": does not know '", master, "'");
    }
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(c);
    if (found.has_value()) {
      *next = at;
      return *std::move(found);
    }
  }
  return UnavailableError(absl::StrCat("no Sentinel named the primary: ", last_error),
                          "STORE_UNAVAILABLE");
}

}  // namespace

bool FailedBeforeSending(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable && status.message() == kNotConnected;
}

// One command on its way through a loop. Owned by the queue, then by hiredis (as privdata) until
// hiredis has called back for every command sent for it (the command, plus WAIT with replicated
// durability; hiredis always calls back: with the reply, or with null when the connection goes).
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
  // Replicated durability: a WAIT goes out right behind the command, and the command's reply is
  // held until WAIT's arrives.
  bool wait = false;
  bool errors_as_values = false;  // CallOptions::error_replies_as_values
  bool asking = false;            // CallOptions::asking

  // Loop-thread state.
  bool completed = false;
  int callbacks = 0;          // hiredis callbacks still to come; the last one deletes the request
  bool reply_pending = false;  // the command's own reply has not arrived yet
  bool wait_queued = false;    // a WAIT follows the latest send of the command
  std::optional<Reply> held;   // the command's reply, waiting for WAIT's
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
    if (sentinel_mode()) {
      sentinel_watch_ev_ = event_new(base_, -1, EV_PERSIST, &Loop::OnSentinelWatchThunk, this);
      timeval every = absl::ToTimeval(options_.sentinel_check_interval);
      event_add(sentinel_watch_ev_, &every);
    }
    backoff_ = options_.min_backoff;
    if (options_.wait_replicas > 0) {
      std::vector<std::string> wait = {
          "WAIT", absl::StrCat(options_.wait_replicas),
          absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.wait_timeout)))};
      wait_command_ = FormatCommand(wait);
    }
    target_ = config::HostPort{options_.endpoint.host, options_.endpoint.port};
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
    if (sentinel_watch_ev_ != nullptr) event_free(sentinel_watch_ev_);
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
  static void OnSentinelWatchThunk(evutil_socket_t, short, void* self) {
    static_cast<Loop*>(self)->OnSentinelWatch();
  }
  static void OnSentinelConnectThunk(const redisAsyncContext* ac, int status) {
    if (status != REDIS_OK) static_cast<Loop*>(ac->data)->OnSentinelGone();
  }
  static void OnSentinelDisconnectThunk(const redisAsyncContext* ac, int) {
    static_cast<Loop*>(ac->data)->OnSentinelGone();
  }
  static void OnSentinelReplyThunk(redisAsyncContext* ac, void* reply, void*) {
    static_cast<Loop*>(ac->data)->OnSentinelReply(static_cast<redisReply*>(reply));
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
  static void OnAskingThunk(redisAsyncContext*, void*, void* privdata) {
    // Only the command's own reply matters: if ASKING failed, the command answers a redirection.
    Release(static_cast<Request*>(privdata));
  }
  static void OnWaitThunk(redisAsyncContext* ac, void* reply, void* privdata) {
    static_cast<Loop*>(ac->data)->OnWait(static_cast<redisReply*>(reply),
                                         static_cast<Request*>(privdata));
  }
  static void OnHandshakeThunk(redisAsyncContext* ac, void* reply, void* privdata) {
    static_cast<Loop*>(ac->data)->OnHandshake(ac, static_cast<redisReply*>(reply),
                                              privdata == &kRoleCheck);
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
      request->Complete(NotConnected(),
                        CommandError::kIo);
      return;
    }
    Request* r = request.get();
    bool sent = SendCommand(ctx_, r);
    if (r->callbacks == 0) {
      request->Complete(ConnectionLost(), CommandError::kIo);
      return;
    }
    // hiredis calls back for each command sent; the last callback deletes the request.
    static_cast<void>(request.release());
    r->sent_time = absl::Now();
    r->deadline_it = deadlines_.emplace(r->deadline, r);
    r->in_deadline_index = true;
    if (!sent) Finish(r, ConnectionLost(), CommandError::kIo);  // only its ASKING went out
  }

  // Queues the request's command, and WAIT behind it when it asks for one. False when hiredis
  // refused the command (the connection is going).
  bool SendCommand(redisAsyncContext* ac, Request* r) {
    if (r->asking) {
      static const std::string kAsking = FormatCommand(std::vector<std::string>{"ASKING"});
      if (redisAsyncFormattedCommand(ac, &Loop::OnAskingThunk, r, kAsking.data(),
                                     kAsking.size()) != REDIS_OK) {
        return false;
      }
      ++r->callbacks;
    }
    if (redisAsyncFormattedCommand(ac, &Loop::OnReplyThunk, r, r->formatted.data(),
                                   r->formatted.size()) != REDIS_OK) {
      return false;
    }
    ++r->callbacks;
    r->reply_pending = true;
    r->wait_queued = false;
    if (r->wait && redisAsyncFormattedCommand(ac, &Loop::OnWaitThunk, r, wait_command_.data(),
                                              wait_command_.size()) == REDIS_OK) {
      ++r->callbacks;
      r->wait_queued = true;
    }
    return true;
  }

  void Unindex(Request* r) {
    if (r->in_deadline_index) {
      deadlines_.erase(r->deadline_it);
      r->in_deadline_index = false;
    }
  }

  void Finish(Request* r, absl::StatusOr<Reply> result, CommandError error) {
    Unindex(r);
    r->Complete(std::move(result), error);
  }

  // One of the request's hiredis callbacks is done with it.
  static void Release(Request* r) {
    if (--r->callbacks == 0) delete r;
  }

  void OnReply(redisAsyncContext* ac, redisReply* reply, Request* r) {
    r->reply_pending = false;
    if (reply == nullptr) {
      Finish(r, ConnectionLost(), CommandError::kIo);
      Release(r);
      return;
    }
    last_reply_time_ = absl::Now();
    if (reply->type == REDIS_REPLY_ERROR) {
      absl::string_view text(reply->str, reply->len);
      if (r->script != nullptr && !r->resent_as_eval && absl::StartsWith(text, "NOSCRIPT")) {
        // The server lost its script cache (restart, SCRIPT FLUSH): EVAL loads it again. A WAIT
        // already queued behind the EVALSHA answers before the EVAL does and is ignored.
        r->resent_as_eval = true;
        std::string nkeys = absl::StrCat(r->keys.size());
        r->formatted = FormatCommand({"EVAL", r->script->body(), nkeys}, r->keys, r->args);
        if (!SendCommand(ac, r)) Finish(r, ConnectionLost(), CommandError::kIo);
        Release(r);
        return;
      }
      if (r->errors_as_values) {
        Reply error;
        error.type = Reply::Type::kError;
        error.str = std::string(text);
        Finish(r, std::move(error), ErrorOfReply(text));
      } else {
        Finish(r, ErrorReplyToStatus(text), ErrorOfReply(text));
      }
      // "READONLY ..." from a command; from inside a script older servers wrap it in "ERR ...".
      if (absl::StrContains(text, "READONLY") && ac == ctx_ && ready()) {
        // The server was demoted to a replica (a failover): reconnect, and with Sentinel, find
        // the new primary. Deferred by hiredis until this callback returns; the commands still in
        // flight on this connection fail with UNAVAILABLE, as for any lost connection.
        log::Warn("redis server is read-only; reconnecting",
                  {{"loop", index_}, {"endpoint", TargetText()}});
        ready_.store(false, std::memory_order_release);
        redisAsyncFree(ac);
      }
      Release(r);
      return;
    }
    if (r->wait_queued) {
      r->held = Reply::FromHiredis(*reply);  // answered when WAIT confirms
    } else if (r->wait) {
      Finish(r, ConnectionLost(), CommandError::kIo);  // its WAIT could not be queued
    } else {
      Finish(r, Reply::FromHiredis(*reply), CommandError::kNone);
    }
    Release(r);
  }

  void OnWait(redisReply* reply, Request* r) {
    // Ignored when it followed a send that was superseded (NOSCRIPT), or the request is answered.
    if (!r->reply_pending && !r->completed) {
      if (reply == nullptr) {
        Finish(r, ConnectionLost(), CommandError::kIo);
      } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= options_.wait_replicas &&
                 r->held.has_value()) {
        last_reply_time_ = absl::Now();
        Finish(r, *std::move(r->held), CommandError::kNone);
      } else if (reply->type == REDIS_REPLY_ERROR) {
        // The write was applied; only its confirmation failed (e.g. "WAIT cannot be used with
        // replica instances": the server was demoted in between). Retry may help.
        log::Warn("redis WAIT failed",
                  {{"loop", index_},
                   {"redis_error", std::string(reply->str, std::min<size_t>(reply->len, 120))}});
        Finish(r,
               UnavailableError("the write could not be confirmed by replicas",
                                "REPLICATION_TIMEOUT"),
               CommandError::kTransient);
      } else {
        last_reply_time_ = absl::Now();
        Finish(r,
               UnavailableError(absl::StrCat("the write was not confirmed by ",
                                             options_.wait_replicas, " replica(s) in time"),
                                "REPLICATION_TIMEOUT"),
               CommandError::kTransient);
      }
    }
    Release(r);
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

  bool sentinel_mode() const { return !options_.endpoint.sentinels.empty(); }

  // Starts an asynchronous connection to `at` on this loop, reporting to `this`; null (with
  // `*error`) when hiredis could not even start it.
  redisAsyncContext* Open(const config::HostPort& at, redisConnectCallback* on_connect,
                          redisDisconnectCallback* on_disconnect, std::string* error) {
    redisAsyncContext* ac = redisAsyncConnect(at.host.c_str(), at.port);
    if (ac == nullptr || ac->err) {
      *error = ac != nullptr ? ac->errstr : "out of memory";
      if (ac != nullptr) redisAsyncFree(ac);
      return nullptr;
    }
    ac->data = this;
    redisLibeventAttach(ac, base_);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
  }

  void RotateSentinel() {
    next_sentinel_ = (next_sentinel_ + 1) % options_.endpoint.sentinels.size();
  }

  // The Sentinel watch: every sentinel_check_interval, ask a Sentinel (over a connection of its
  // own on this loop, kept open) which server is the primary. When it names another server than
  // the one this loop is connected to, drop the connection: the reconnect asks again. A failover
  // demotes the old primary only some seconds after promoting the new one (if the old one is
  // still up), and until then it would keep accepting writes; the watch bounds that window to the
  // interval. A Sentinel that does not answer within two intervals is replaced by the next.
  void OnSentinelWatch() {
    if (IsStopping()) return;
    absl::Time now = absl::Now();
    if (sentinel_ctx_ != nullptr &&
        now - sentinel_asked_ > 2 * options_.sentinel_check_interval &&
        (sentinel_pending_ || !(sentinel_ctx_->c.flags & REDIS_CONNECTED))) {
      redisAsyncContext* stale = sentinel_ctx_;
      sentinel_ctx_ = nullptr;  // so that OnSentinelGone, called from the free, does nothing
      redisAsyncFree(stale);
      sentinel_pending_ = false;
      RotateSentinel();
    }
    if (sentinel_ctx_ == nullptr) {
      std::string error;
      redisAsyncContext* ac = Open(options_.endpoint.sentinels[next_sentinel_],
                                   &Loop::OnSentinelConnectThunk,
                                   &Loop::OnSentinelDisconnectThunk, &error);
      if (ac == nullptr) {
        RotateSentinel();
        return;
      }
      sentinel_ctx_ = ac;
      sentinel_pending_ = false;
      sentinel_asked_ = now;
    }
    if (sentinel_pending_) return;
    const std::string& master = options_.endpoint.sentinel_master;
    if (redisAsyncCommand(sentinel_ctx_, &Loop::OnSentinelReplyThunk, nullptr,
                          "SENTINEL get-master-addr-by-name %b", master.data(),
                          master.size()) == REDIS_OK) {
      sentinel_pending_ = true;
      sentinel_asked_ = now;
    }
  }

  void OnSentinelReply(redisReply* reply) {
    sentinel_pending_ = false;
    std::optional<config::HostPort> named = MasterAddressOf(reply);
    if (!named.has_value()) return;  // no opinion (unknown name, an error): keep the connection
    if (ctx_ != nullptr && ready() &&
        (named->host != target_.host || named->port != target_.port)) {
      log::Warn("Sentinel names a new primary; reconnecting",
                {{"loop", index_},
                 {"endpoint", TargetText()},
                 {"primary", absl::StrCat(named->host, ":", named->port)}});
      DropConnection();
    }
  }

  // The Sentinel connection failed or closed (hiredis frees it after this).
  void OnSentinelGone() {
    if (sentinel_ctx_ == nullptr) return;  // freed by this loop on purpose
    sentinel_ctx_ = nullptr;
    sentinel_pending_ = false;
    RotateSentinel();
  }

  std::string TargetText() const { return config::HostPortText(target_); }

  void Connect() {
    if (IsStopping()) return;
    if (sentinel_mode()) {
      auto primary =
          AskSentinels(options_.endpoint.sentinels, options_.endpoint.sentinel_master,
                       std::min(options_.connect_timeout, absl::Seconds(1)), &next_sentinel_);
      if (!primary.ok()) {
        if (!logged_down_) {
          log::Warn("redis primary not resolved",
                    {{"loop", index_}, {"error", std::string(primary.status().message())}});
          logged_down_ = true;
        }
        ScheduleReconnect();
        return;
      }
      if (primary->host != target_.host || primary->port != target_.port) {
        target_ = *std::move(primary);
        log::Info("redis primary resolved through Sentinel",
                  {{"loop", index_}, {"endpoint", TargetText()}});
      }
    }
    std::string error;
    redisAsyncContext* ac = Open(target_, &Loop::OnConnectThunk, &Loop::OnDisconnectThunk, &error);
    if (ac == nullptr) {
      log::Warn("redis connect failed", {{"loop", index_}, {"error", error}});
      ScheduleReconnect();
      return;
    }
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
    // With Sentinel, the address may be stale (a failover since it was asked): only a primary
    // will do.
    size_t role_index = commands.size();
    if (sentinel_mode()) commands.push_back({"ROLE"});
    for (const Script* s : Script::All()) commands.push_back({"SCRIPT", "LOAD", s->body()});
    commands.push_back({"PING"});
    handshake_pending_ = static_cast<int>(commands.size());
    handshake_failed_ = false;
    for (size_t i = 0; i < commands.size(); ++i) {
      std::string f = FormatCommand(commands[i]);
      void* tag = sentinel_mode() && i == role_index ? &kRoleCheck : nullptr;
      redisAsyncFormattedCommand(ctx_, &Loop::OnHandshakeThunk, tag, f.data(), f.size());
    }
  }

  void OnHandshake(redisAsyncContext* ac, redisReply* reply, bool role_check) {
    if (reply == nullptr) return;  // the connection went; OnDisconnect handles it
    if (handshake_failed_) return;
    if (role_check && reply->type == REDIS_REPLY_ERROR &&
        absl::StartsWith(absl::string_view(reply->str, reply->len), "NOPERM")) {
      // An ACL user without ROLE (an @admin command): rely on READONLY replies and the Sentinel
      // watch instead.
      if (!logged_no_role_) {
        log::Warn("redis user may not run ROLE; not checking that Sentinel's address is the primary",
                  {{"loop", index_}});
        logged_no_role_ = true;
      }
      role_check = false;
    } else if (reply->type == REDIS_REPLY_ERROR) {
      handshake_failed_ = true;
      log::Error("redis handshake failed",
                 {{"loop", index_},
                  {"redis_error", std::string(reply->str, std::min<size_t>(reply->len, 120))}});
      // Deferred by hiredis until this callback returns; then OnDisconnect reconnects later.
      redisAsyncFree(ac);
      return;
    }
    if (role_check && !IsPrimaryRole(*reply)) {
      handshake_failed_ = true;
      log::Warn("redis server named by Sentinel is not the primary; asking again",
                {{"loop", index_}, {"endpoint", TargetText()}});
      redisAsyncFree(ac);
      return;
    }
    if (--handshake_pending_ == 0 && !handshake_failed_) {
      ready_.store(true, std::memory_order_release);
      backoff_ = options_.min_backoff;
      logged_down_ = false;
      last_reply_time_ = absl::Now();
      log::Info("redis connected", {{"loop", index_}, {"endpoint", TargetText()}});
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
    if (sentinel_watch_ev_ != nullptr) event_del(sentinel_watch_ev_);
    if (sentinel_ctx_ != nullptr) {
      redisAsyncContext* sc = sentinel_ctx_;
      sentinel_ctx_ = nullptr;
      redisAsyncFree(sc);
    }
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
  event* sentinel_watch_ev_ = nullptr;
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
  config::HostPort target_;  // the server connected to: the URL's, or the primary Sentinel named
  size_t next_sentinel_ = 0;  // the Sentinel asked first: the one that answered last
  redisAsyncContext* sentinel_ctx_ = nullptr;  // the Sentinel watch's connection
  bool sentinel_pending_ = false;              // its question is unanswered
  absl::Time sentinel_asked_;
  bool logged_no_role_ = false;
  std::string wait_command_;  // WAIT <replicas> <timeout ms>, formatted once
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
  request->Complete(NotConnected(),
                    CommandError::kIo);
}

void RedisPool::Execute(std::vector<std::string> args, ReplyCallback done, CallOptions options) {
  auto request = std::make_unique<Request>();
  request->formatted = FormatCommand(args);
  request->done = std::move(done);
  request->start = absl::Now();
  request->deadline = std::min(options.deadline, request->start + options_.command_timeout);
  request->observer = options_.observer;
  request->errors_as_values = options.error_replies_as_values;
  request->asking = options.asking;
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
  request->errors_as_values = options.error_replies_as_values;
  request->asking = options.asking;
  request->wait = options_.wait_replicas > 0 && script.writes();
  request->keys = std::move(keys);
  request->args = std::move(args);
  Submit(std::move(request));
}

}  // namespace trellis::redis
