"""Scenario 5: three reminder replicas on one Redis dispatch N occurrences due at the same
instant; one replica is killed (SIGKILL) as soon as dispatching begins (its claims held under a
lease) and another frozen (SIGSTOP, SIGCONT 8 s later) once the subscriber has received a tenth of
them (every stream busy, deliveries queued in each replica).
A platform subscriber (one subscriber id, one stream per replica, each moving to a surviving
replica when its stream breaks) acknowledges everything it receives.

Checks: every occurrence delivered (none invented); every one acknowledged; no delivery of an id
reaching the subscriber after its acknowledgement was answered (a service bug if it happens:
reported as such). Reported: redeliveries (ids received more than once before their ack, which
at-least-once allows), copies that had reached the subscriber before the ack but were handled
after it (its own backlog: while its acks to the frozen replica time out, the copies that replica
wrote before the freeze wait in the client, and are voided by their redelivery), entries written
to the delivery streams beyond one per occurrence, and how long the burst took.

The occurrences are made by a fourth replica started with --dispatch_interval=1h (it looks for due
work once, at start, and then idles), which CreateReminder goes through and which is stopped
before the due instant, so the three replicas under test do all of the dispatching. The due
instant is set from a measured creation rate.

Sizes: TRELLIS_FAULTS_REPLICA_OCCURRENCES (CI 2000, full 10000).
"""
import datetime
import signal
import threading
import time

import grpc

from faultlib import (Ledger, Result, Stack, Subscriber, alive, log,
                      occurrence_id, one_shot_reminder, reminders_pb2_grpc, size, utcnow,
                      wait_until)

BUCKETS = 16
VISIBILITY_S = 5
FROZEN_S = 8
REPLICA_FLAGS = ["--dispatch_lease=3s", f"--visibility_timeout={VISIBILITY_S}s",
                 "--dispatch_batch=50", "--dispatch_threads=1", "--dispatch_interval=50ms",
                 "--stream_poll_interval=20ms"]


def create_all(stub, n, due, threads=4):
    names = [None] * n
    errors = []

    def work(k):
        for i in range(k, n, threads):
            for attempt in range(5):
                try:
                    names[i] = one_shot_reminder(stub, f"p{i}", due, text="Breathing, 5 min").name
                    break
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.UNAVAILABLE or attempt == 4:
                        errors.append(f"p{i}: {e.code().name} {e.details()}")
                        return
                    time.sleep(0.1)
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return names, errors


def run(result):
    n = size("replica_occurrences", 2000, 10000)
    with Stack(names=()) as stack:
        creator = stack.start("reminders", ["--dispatch_interval=1h"])
        stub = reminders_pb2_grpc.ReminderServiceStub(creator.channel)
        # Creation rate, on reminders far in the future (they never fall due in the run).
        far = utcnow().replace(microsecond=0) + datetime.timedelta(days=2)
        t = time.monotonic()
        _, errors = create_all(stub, 200, far)
        rate = 200 / (time.monotonic() - t)
        result.check(not errors, f"creating reminders failed: {errors[:3]}")
        lead = 12 + 1.6 * n / rate
        due = (utcnow() + datetime.timedelta(seconds=lead)).replace(microsecond=0)
        log(f"[{result.scenario}] creating {n} reminders due at {due:%H:%M:%S} "
            f"({rate:.0f}/s measured; {lead:.0f} s lead)")
        names, errors = create_all(stub, n, due)
        if errors:
            result.fail(f"creating the due reminders failed (too slow for the lead time?): "
                        f"{errors[:3]}")
            return
        creator.stop()
        expected = {occurrence_id(name, due) for name in names}
        replicas = [stack.replica("reminders", REPLICA_FLAGS) for _ in range(3)]
        slack = (due - utcnow()).total_seconds()
        result.figures["seconds_to_spare_before_due"] = round(slack, 1)
        result.check(slack > 1, "the replicas were not up before the due instant")

        ledger = Ledger()
        subs = [Subscriber([replicas[i], *[r for r in replicas if r is not replicas[i]]],
                           ledger=ledger, label=f"s{i}", deadline_s=600, max_unacked=200)
                for i in range(3)]
        for s in subs:
            s.start()

        def entered():
            return sum(stack.redis.integers(
                [("XLEN", f"trellis:rem:{{due:{b}}}:out:t1") for b in range(BUCKETS)]))

        killed, frozen = replicas[0], replicas[1]
        # The kill: as soon as dispatching has begun (claims held under a lease).
        began = wait_until(lambda: entered() > 0, lead + 60, 0.002)
        result.check(began, "dispatching never began")
        due_mono = time.monotonic() - max(0.0, (utcnow() - due).total_seconds())
        killed.kill()
        at_kill = entered()
        # The freeze: once the streams are busy (deliveries handed over and queued in each
        # replica), which is what a pause of a replica puts at risk.
        busy = max(50, n // 10)
        wait_until(lambda: len(ledger.received) >= busy, 120, 0.002)
        frozen.proc.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        at_freeze = entered()
        log(f"[{result.scenario}] killed a replica with {at_kill}/{n} occurrences entered for "
            f"delivery; froze another with {at_freeze}/{n} entered, {len(ledger.received)} "
            "received")
        result.figures["entered_at_kill"] = at_kill
        result.figures["received_at_freeze"] = len(ledger.received)
        if at_kill >= n:
            result.note("the kill came after dispatching had finished (too fast a burst)")
        time.sleep(max(0.0, frozen_at + FROZEN_S - time.monotonic()))
        frozen.proc.send_signal(signal.SIGCONT)
        log(f"[{result.scenario}] thawed the frozen replica; {len(ledger.acked)}/{n} acked")

        done = wait_until(lambda: len(ledger.acked) >= n, 300, 0.2)
        all_acked_at = time.monotonic()
        result.check(done, f"only {len(ledger.acked)} of {n} occurrences acknowledged in 300 s")
        # Anything that would come again after its ack comes within a visibility timeout.
        time.sleep(VISIBILITY_S + 2)
        for s in subs:
            s.close()

        received = set(ledger.received)
        result.requests = n
        result.acknowledged = len(ledger.acked)
        result.lost = len(expected - received)
        invented = received - expected
        result.check(not invented, f"{len(invented)} deliveries of unknown occurrences")
        result.check(not result.lost, f"{result.lost} occurrences never delivered")
        redelivered = sum(1 for c in ledger.received.values() if c > 1)
        result.duplicates = len(ledger.after_ack)
        stream_entries = entered()
        result.figures.update({
            "occurrences": n, "redelivered_before_ack": redelivered,
            "delivered_after_ack": len(ledger.after_ack),
            "after_ack_examples": ledger.after_ack[:5],
            "read_late_after_ack": len(ledger.read_late),
            "read_late_past_their_ack_deadline": sum(1 for r in ledger.read_late if r[4] > 0),
            "read_late_examples": ledger.read_late[:3],
            "already_acknowledged_answers": ledger.already_acked,
            "stream_entries": stream_entries,
            "burst_s": round(all_acked_at - due_mono, 1),
            "stream_errors": {s.label: s.stream_errors.snapshot() for s in subs},
            "replicas": {"killed": killed.address, "frozen": frozen.address,
                         "untouched": replicas[2].address},
            "killed_replica_alive": alive(killed.proc),
            "frozen_replica_alive": alive(frozen.proc),
        })
        errors = [e for s in subs for e in s.errors]
        result.check(not errors, f"subscriber errors: {errors[:3]}")
        if ledger.after_ack:
            result.fail(f"{len(ledger.after_ack)} deliveries came after their ack, e.g. "
                             f"{ledger.after_ack[:3]} (id, seconds after ack, replica, "
                             f"attempt); frozen replica {frozen.address}")
        result.check(alive(frozen.proc) and alive(replicas[2].proc),
                     "a surviving replica exited")
        result.check(frozen.health() == "SERVING", "the thawed replica is not SERVING")
        result.error_window = f"{FROZEN_S} s frozen; burst {all_acked_at - due_mono:.0f} s"
        result.note(f"{redelivered} of {n} occurrences were delivered more than once before "
                    f"their ack; {stream_entries} delivery-stream entries for {n} occurrences; "
                    f"{len(ledger.read_late)} copies reached the subscriber before their ack but "
                    "were handled after it (its own backlog)")


def scenario():
    r = Result("5 reminder replicas", "3 dispatchers: SIGKILL one, SIGSTOP one 8 s, mid-burst")
    return r, run
