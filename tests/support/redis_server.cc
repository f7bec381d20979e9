#include "tests/support/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace trellis::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/trellis-test-XXXXXX");
  char* made = mkdtemp(tmpl.data());
  path_ = made ? made : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

namespace {

// Binds the loopback `port` (0: any) and returns the port bound, or 0 when the bind fails.
int TryBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

int EphemeralLow() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  return (range >> low) ? low : 32768;
}

}  // namespace

// The same scheme as tests/support/ports.py, which explains it: a port below the ephemeral range
// (no outbound connection can take it meanwhile), reserved for this process by an flock that is
// never released (the fd stays open until the process exits).
int PickFreePort() {
  constexpr int kLowest = 15000;
  constexpr const char* kLockDir = "/tmp/trellis-test-ports";
  const int high = EphemeralLow();
  if (high - kLowest < 1000) return TryBind(0);
  std::error_code ec;
  std::filesystem::create_directories(kLockDir, ec);
  static std::mutex mu;
  std::lock_guard<std::mutex> hold(mu);
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(kLowest, high - 1);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = pick(rng);
    const std::string path = absl::StrCat(kLockDir, "/", port);
    int lock = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) continue;
    if (flock(lock, LOCK_EX | LOCK_NB) != 0 || TryBind(port) != port) {
      close(lock);
      continue;
    }
    return port;  // `lock` stays open: the reservation lasts as long as this process
  }
  return TryBind(0);
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    std::vector<std::string> extra_args) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->extra_args_ = std::move(extra_args);
  for (size_t i = 0; i + 1 < server->extra_args_.size(); ++i) {
    if (server->extra_args_[i] == "--requirepass") server->password_ = server->extra_args_[i + 1];
  }
  return LaunchOnFreePort(std::move(server));
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::StartSentinel(
    int master_port, const std::string& master_name, int quorum, absl::Duration down_after) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->sentinel_conf_ = absl::StrCat(server->dir_.path(), "/sentinel.conf");
  // Sentinel rewrites its configuration file as it learns, so it must be a writable file.
  std::ofstream conf(server->sentinel_conf_);
  conf << "sentinel monitor " << master_name << " 127.0.0.1 " << master_port << " " << quorum
       << "\n"
       << "sentinel down-after-milliseconds " << master_name << " "
       << absl::ToInt64Milliseconds(down_after) << "\n"
       << "sentinel failover-timeout " << master_name << " 10000\n";
  conf.close();
  if (!conf) return absl::InternalError("cannot write sentinel.conf");
  return LaunchOnFreePort(std::move(server));
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::LaunchOnFreePort(
    std::unique_ptr<RedisServer> server) {
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = PickFreePort();
    last = server->Launch();
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() { Stop(/*hard=*/true); }

std::string RedisServer::url() const {
  if (password_.empty()) return absl::StrCat("redis://127.0.0.1:", port_, "/0");
  return absl::StrCat("redis://:", password_, "@127.0.0.1:", port_, "/0");
}

absl::Status RedisServer::Launch() {
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   absl::StrCat(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_.path(),
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "everysec",
                                   "--save",
                                   "",
                                   "--maxmemory-policy",
                                   "noeviction",
                                   "--enable-debug-command",
                                   "local",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   absl::StrCat(dir_.path(), "/redis.log")};
  if (!sentinel_conf_.empty()) {
    args = {"redis-server", sentinel_conf_, "--sentinel", "--port", absl::StrCat(port_), "--bind",
            "127.0.0.1", "--dir", dir_.path(), "--daemonize", "no", "--logfile",
            absl::StrCat(dir_.path(), "/redis.log")};
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  pid_ = pid;
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("redis-server exited at start on port ", port_));
    }
    auto pong = Command({"PING"});
    if (pong.ok() && *pong == "PONG") return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  Stop(true);
  return absl::DeadlineExceededError("redis-server did not answer PING within 10s");
}

void RedisServer::Stop(bool hard) {
  if (pid_ <= 0) return;
  kill(pid_, hard ? SIGKILL : SIGTERM);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::Status RedisServer::Restart() {
  Stop();
  return Launch();
}

absl::Status RedisServer::Query(const std::vector<std::string>& args,
                                absl::FunctionRef<absl::Status(const redisReply&)> read) const {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return absl::UnavailableError("cannot connect");
  }
  redisSetTimeout(c, tv);
  auto run = [c](const std::vector<std::string>& a) -> redisReply* {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& s : a) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(a.size()), argv.data(), lens.data()));
  };
  if (!password_.empty()) {
    redisReply* auth = run({"AUTH", password_});
    if (auth) freeReplyObject(auth);
  }
  redisReply* r = run(args);
  if (r == nullptr) {
    redisFree(c);
    return absl::UnavailableError("no reply");
  }
  absl::Status status = r->type == REDIS_REPLY_ERROR
                            ? absl::InternalError(std::string(r->str, r->len))
                            : read(*r);
  freeReplyObject(r);
  redisFree(c);
  return status;
}

namespace {

std::string ReplyText(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      return absl::StrCat(r.integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY:
      return absl::StrCat("(array ", r.elements, ")");
    default:
      return std::string(r.str, r.len);
  }
}

}  // namespace

absl::StatusOr<std::string> RedisServer::Command(const std::vector<std::string>& args) const {
  std::string out;
  absl::Status status = Query(args, [&](const redisReply& r) {
    out = ReplyText(r);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<std::string>> RedisServer::CommandList(
    const std::vector<std::string>& args) const {
  std::vector<std::string> out;
  absl::Status status = Query(args, [&](const redisReply& r) {
    if (r.type != REDIS_REPLY_ARRAY) {
      return absl::InternalError(absl::StrCat("not an array: ", ReplyText(r)));
    }
    for (size_t i = 0; i < r.elements; ++i) out.push_back(ReplyText(*r.element[i]));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace trellis::testing
