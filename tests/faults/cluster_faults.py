"""Scenario 10 (issue 11): the services on a Redis Cluster that reshards and fails over under
write load.

A 3-primary cluster with a replica per primary; the goal and measurement services reach it with
--redis_cluster and replicated durability (--redis_wait_replicas=1: a write is acknowledged once a
replica has it too, as scenario 3 does with Sentinel). Writer threads record measurements and
create goals, each logical write retried with its request_id while the answer is UNAVAILABLE
(redis_crash.Writer). During the run:
  1. `redis-cli --cluster reshard` moves 600 slots from one primary to another (keys migrate,
     clients meet ASK and MOVED);
  2. one primary is killed (SIGKILL); the cluster promotes its replica after the node timeout,
     and the killed node is started again, rejoining as the new primary's replica (until then
     the slots it served have no replica, and writes there answer UNAVAILABLE: WAIT 1 cannot be
     met, the price of replicated durability with one replica per primary, as in scenario 3).
Afterwards every acknowledged write must be readable through the RPCs, none stored twice.

Sizes: TRELLIS_FAULTS_CLUSTER_SECONDS (CI 24, full 40), TRELLIS_FAULTS_CLUSTER_WRITERS (4).
"""
import subprocess
import time

from faultlib import Result, Stack, log, longest_silence, size
from harness import RedisCluster, wait_until
from redis_crash import judge_writers, start_writers, stop_writers


class ClusterStack(Stack):
    """Stack on a 3-primary, 3-replica cluster instead of one redis-server."""

    def start_storage(self):
        self.redis = RedisCluster(self.workdir, primaries=3, replicas=1)


def run(result):
    seconds = size("cluster_seconds", 24.0, 40.0)
    writers_n = size("cluster_writers", 4, 4)
    args = ["--redis_wait_replicas=1", "--cluster_walk_interval=200ms"]
    with ClusterStack(names=("goals", "measurements"),
                      service_args={"goals": args, "measurements": args}) as stack:
        cluster = stack.redis
        stop, outcomes, writers = start_writers(stack, writers_n)
        t0 = time.monotonic()
        time.sleep(seconds / 4)

        # 1. Resharding: 600 slots from the first primary to the second, under the writers.
        source, target = cluster.primaries()[:2]
        reshard_at = time.monotonic()
        done = subprocess.run(
            ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{source.port}",
             "--cluster-from", cluster.node_id(source), "--cluster-to", cluster.node_id(target),
             "--cluster-slots", "600", "--cluster-yes"],
            capture_output=True, text=True, timeout=120)
        resharded_at = time.monotonic()
        result.check(done.returncode == 0, f"reshard failed: {done.stdout[-300:]}"
                                           f"{done.stderr[-300:]}")
        log(f"[{result.scenario}] 600 slots moved :{source.port} -> :{target.port} in "
            f"{resharded_at - reshard_at:.2f} s")

        # 2. Failover: kill the primary that received the slots; its replica takes over.
        time.sleep(max(0.0, t0 + seconds / 2 - time.monotonic()))
        acked_before = sum(len(w.acked) for w in writers)
        killed_at = time.monotonic()
        target.stop(hard=True)
        log(f"[{result.scenario}] primary :{target.port} killed with {acked_before} acknowledged")
        # Promoted once every slot has a primary again and none is the killed node's.
        healed = wait_until(lambda: cluster.healthy() and target not in cluster.primaries()
                            and None not in cluster.owners, 30)
        healed_at = time.monotonic()
        result.check(healed, "the cluster did not promote a replica within 30 s")
        target.start()
        rejoined = wait_until(lambda: "role:slave" in target.cli("INFO", "replication")
                              and "master_link_status:up" in target.cli("INFO", "replication"),
                              30)
        rejoined_at = time.monotonic()
        result.check(rejoined, "the killed node did not rejoin as a replica within 30 s")
        log(f"[{result.scenario}] replica promoted {healed_at - killed_at:.2f} s after the kill; "
            f"the old primary a replica again after {rejoined_at - killed_at:.2f} s")
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        stop_writers(result, writers, stop)

        result.check(any(t > healed_at for w in writers for t in w.ack_times),
                     "no write was acknowledged after the failover")
        window, _ = longest_silence(writers, killed_at)
        acked = [a for w in writers for a in w.acked]
        result.requests = outcomes.total()
        result.acknowledged = len(acked)
        result.error_window = f"{window:.2f} s after the kill" if window is not None else "never"
        result.figures = {
            "seconds": seconds, "writers": writers_n, "outcomes": outcomes.snapshot(),
            "reshard_s": round(resharded_at - reshard_at, 3),
            "promoted_s": round(healed_at - killed_at, 3),
            "old_primary_rejoined_s": round(rejoined_at - killed_at, 3),
            "gave_up": sum(w.gave_up for w in writers)}
        missing = judge_writers(result, stack, writers, acked)
        result.check(not missing, f"{len(missing)} acknowledged writes lost, e.g. "
                                  f"{[a[2] for a in missing[:3]]}")
        result.note(f"600 slots resharded in {resharded_at - reshard_at:.2f} s under the writers; "
                    f"the replica was promoted {healed_at - killed_at:.2f} s after the kill and "
                    f"the old primary was its replica after {rejoined_at - killed_at:.2f} s; "
                    f"longest time without an acknowledged write: {result.error_window}")


def scenario():
    r = Result("10 cluster reshard + failover",
               "redis-cli --cluster reshard of 600 slots, then SIGKILL of a primary; WAIT 1")
    return r, run
