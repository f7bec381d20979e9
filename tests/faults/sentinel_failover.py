"""Scenario 3: Redis failover through Sentinel under write load.

A primary (AOF, `appendfsync always`), one replica and three Sentinels (quorum 2, the primary
declared down after 1 s) on loopback. The goal and measurement services find the primary through
the Sentinels (`--redis_sentinels`, `--redis_sentinel_master`) and run with replicated durability
(`--redis_wait_replicas=1`): a write is acknowledged only once the replica has it. Writer threads
record measurements and create goals as in scenario 1 (request ids, retried while UNAVAILABLE),
logging each acknowledged name.

At a third of the run the primary is killed (SIGKILL). The Sentinels agree that it is down and
promote the replica; the services' connections drop, ask a Sentinel again, and reach the new
primary. Then the old primary is restarted on its port and data (as Kubernetes restarts a pod);
the Sentinels turn it into a replica of the new primary, and writes are confirmed again (with
one replica required, the new primary alone cannot confirm them: that gap is part of the error
window, the price of replicated durability).

Checks: every acknowledged write is readable through the RPCs afterwards (zero lost); no write is
stored twice; writes are acknowledged again after the failover; the services never answer
anything but OK or UNAVAILABLE/DEADLINE_EXCEEDED. Reported: the error window (kill to the first
acknowledgement after it), the time the Sentinels took to name the new primary, the outcomes.

3b runs the same with `--redis_wait_replicas=0` and reports, without judging, how many
acknowledged writes the failover lost: the trade replicated durability removes.

Sizes: TRELLIS_FAULTS_FAILOVER_SECONDS (CI 20, full 45), TRELLIS_FAULTS_FAILOVER_WRITERS (4).
"""
import os
import subprocess
import time

from faultlib import Result, Stack, log, longest_silence, resp_command, size, wait_until
from harness import Redis, free_port
from redis_crash import judge_writers, start_writers, stop_writers

MASTER = "trellis"
QUORUM = 2
SENTINELS = 3
DOWN_AFTER_MS = 1000


def link_up(port):
    """True when the Redis on `port` is a replica in sync with its primary."""
    try:
        return b"master_link_status:up" in resp_command(port, "INFO", "replication", timeout=1)
    except OSError:
        return False


class Sentinel:
    """redis-server --sentinel on a free loopback port, monitoring MASTER at `primary_port`."""

    def __init__(self, workdir, index, primary_port):
        self.dir = os.path.join(workdir, f"sentinel-{index}")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "sentinel.conf")  # Sentinel rewrites it: a file of its own
        with open(conf, "w") as f:
            f.write(f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} {QUORUM}\n"
                    f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                    f"sentinel failover-timeout {MASTER} 10000\n")
        self.proc = subprocess.Popen(
            ["redis-server", conf, "--sentinel", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "sentinel.log")])
        ok = wait_until(lambda: self.primary_port() is not None, 10)
        assert ok, "sentinel did not start"

    def primary_port(self):
        try:
            reply = resp_command(self.port, "SENTINEL", "get-master-addr-by-name", MASTER,
                                 timeout=1)
        except OSError:
            return None
        if isinstance(reply, list) and len(reply) == 2:
            return int(reply[1])
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class SentinelStack(Stack):
    """The Stack of the other scenarios with a replica and three Sentinels beside its Redis; the
    services reach Redis through the Sentinels."""

    def __init__(self, redis_args, names, wait_replicas):
        super().__init__(redis_args=redis_args, names=names)
        self.wait_replicas = wait_replicas
        self.replica = None
        self.sentinels = []

    def start_storage(self):
        self.redis = Redis(self.workdir, self.redis_args)
        self.replica = Redis(os.path.join(self.workdir, "replica"),
                             [*self.redis_args, "--replicaof", "127.0.0.1",
                              str(self.redis.port)])
        # Synced, and receiving writes (after a diskless sync the primary streams them only
        # from the replica's first ACK, sent once a second).
        resp_command(self.redis.port, "SET", "{warm}", "1")
        ok = wait_until(lambda: link_up(self.replica.port) and
                        resp_command(self.replica.port, "GET", "{warm}") == b"1", 15)
        assert ok, "the replica did not sync"
        self.sentinels = [Sentinel(self.workdir, i, self.redis.port)
                          for i in range(SENTINELS)]
        addresses = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        args = [f"--redis_sentinels={addresses}", f"--redis_sentinel_master={MASTER}",
                f"--redis_wait_replicas={self.wait_replicas}", "--redis_wait_timeout=500ms"]
        self.service_args = {n: args for n in self.names}

    def __exit__(self, *exc):
        for s in self.sentinels:
            try:
                s.stop()
            except Exception:
                pass
        if self.replica is not None:
            try:
                self.replica.stop()
            except Exception:
                pass
        return super().__exit__(*exc)

    def named_primary(self):
        """The primary's port if a majority of the Sentinels name the same one, else None."""
        ports = [s.primary_port() for s in self.sentinels]
        for p in set(ports):
            if p is not None and ports.count(p) > len(ports) // 2:
                return p
        return None


def run(result, wait_replicas):
    seconds = size("failover_seconds", 20.0, 45.0)
    writers_n = size("failover_writers", 4, 4)
    redis_args = ["--appendfsync", "always", "--repl-diskless-sync-delay", "0"]
    with SentinelStack(redis_args, ("goals", "measurements"), wait_replicas) as stack:
        old_port, new_port = stack.redis.port, stack.replica.port
        stop, outcomes, writers = start_writers(stack, writers_n)
        t0 = time.monotonic()
        time.sleep(seconds / 3)
        acked_before = sum(len(w.acked) for w in writers)
        killed_at = time.monotonic()
        stack.redis_kill()
        log(f"[{result.scenario}] primary :{old_port} killed with {acked_before} acknowledged")
        promoted = wait_until(lambda: stack.named_primary() == new_port, 30)
        promoted_at = time.monotonic()
        result.check(promoted, "the Sentinels did not promote the replica within 30 s")
        log(f"[{result.scenario}] Sentinels name :{new_port} after "
            f"{promoted_at - killed_at:.2f} s; restarting the old primary")
        stack.redis_restart()
        rejoined = wait_until(lambda: link_up(old_port), 60)
        rejoined_at = time.monotonic()
        result.check(rejoined, "the old primary did not rejoin as a replica within 60 s")
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        stop_writers(result, writers, stop)

        # Error window: the longest time without any acknowledgement, from the kill on.
        after = [t for w in writers for t in w.ack_times if t > killed_at]
        result.check(bool(after), "no write was acknowledged after the failover")
        window, window_start = longest_silence(writers, killed_at)
        acked = [a for w in writers for a in w.acked]
        result.requests = outcomes.total()
        result.acknowledged = len(acked)
        result.error_window = (f"{window:.2f} s, from {window_start - killed_at:.2f} s after "
                               "the kill" if window is not None else "never recovered")
        result.figures = {
            "seconds": seconds, "writers": writers_n, "outcomes": outcomes.snapshot(),
            "acknowledged_before_kill": acked_before,
            "acknowledged_after_kill": len(after),
            "sentinels_promoted_s": round(promoted_at - killed_at, 3),
            "old_primary_rejoined_s": round(rejoined_at - killed_at, 3),
            "gave_up": sum(w.gave_up for w in writers)}
        missing = judge_writers(result, stack, writers, acked)
        if wait_replicas > 0:
            result.check(not missing, f"{len(missing)} acknowledged writes lost, e.g. "
                                      f"{[a[2] for a in missing[:3]]}")
        else:
            result.note(f"without WAIT: {len(missing)} of {len(acked)} acknowledged writes lost "
                        "to the failover (acknowledged by the old primary, not yet replicated)")
        result.note(f"Sentinels named the new primary {promoted_at - killed_at:.2f} s after the "
                    f"kill; the old primary was a replica again after "
                    f"{rejoined_at - killed_at:.2f} s; longest time without an acknowledged "
                    f"write: {result.error_window}")


def scenario():
    r = Result("3 sentinel failover",
               "SIGKILL of the primary; Sentinels promote the replica; WAIT 1 on writes")
    return r, lambda res: run(res, 1)


def scenario_no_wait():
    r = Result("3b sentinel failover (no WAIT)",
               "the same with --redis_wait_replicas=0 (asynchronous replication)")
    r.report_only = True
    return r, lambda res: run(res, 0)
