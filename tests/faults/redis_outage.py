"""Scenario 2: Redis unavailable for 10 s, two ways: the process gone (SIGKILL, restarted 10 s
later on the same data directory: connections are refused) and frozen (SIGSTOP, SIGCONT 10 s
later: connections hang, which only the services' own timeouts notice).

Right before the fault, one effect is queued in each outbox (a goal closed: its reminder must
end; a stalled goal's progress read: the achievement write-back; a homework done with a value:
the measurement), so their delivery has to cross the outage. A one-shot reminder falls due during
the outage and another 2 s after Redis returns; a platform subscriber streams and acknowledges.

Checks: during the outage every call answers UNAVAILABLE within its 5 s deadline (no hang, no
other code, no crash) and every service's health is NOT_SERVING; after Redis returns, within 5 s
(bounded waits, each failure names what did not recover): health SERVING, a write succeeds on
each service, the reminder due during the outage is delivered (and the later one within 5 s of
its due time), and each queued effect has reached its peer. Nothing is delivered twice in effect.
"""
import datetime
import signal
import threading
import time

import grpc

from faultlib import (CLINICIAN, Counter, G, M, R, Result, Stack, Subscriber, alive, code_of,
                      daily_reminder, define_minutes_metric, goals_pb2_grpc, log,
                      measurements_pb2_grpc, occurrence_id, one_shot_reminder, redis_keys,
                      reminders_pb2_grpc, resp_command, simple_goal, stalled_goal, utcnow,
                      wait_until)

OUTAGE_S = 10.0
RECOVERY_S = 5.0
CALL_DEADLINE_S = 5.0
REMINDER_FLAGS = ["--visibility_timeout=5s", "--stream_poll_interval=50ms",
                  "--dispatch_interval=100ms"]


class Prober(threading.Thread):
    """Calls one read and one write of a service every 0.25 s, recording (start, latency, code)."""

    def __init__(self, name, call):
        super().__init__(daemon=True)
        self.name = name
        self.call = call
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        seq = 0
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                self.call(seq)
                code = "OK"
            except grpc.RpcError as e:
                code = code_of(e)
            self.samples.append((t, time.monotonic() - t, code))
            seq += 1
            self.stop.wait(0.25)


def run(result, frozen):
    with Stack(service_args={"reminders": REMINDER_FLAGS}) as stack:
        goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
        rem = reminders_pb2_grpc.ReminderServiceStub(stack.channel("reminders"))

        # Effects to queue: a goal with a reminder (to close), a stalled goal (to read), a
        # homework reminder with a metric (to complete with a value).
        closing = simple_goal(goals, "p-close")
        closing_rem, _ = daily_reminder(rem, "p-close", closing.name)
        stalled = stalled_goal(goals, meas, "p-stall")
        define_minutes_metric(meas)
        homework_goal = simple_goal(goals, "p-hw")
        homework, hw_start = daily_reminder(rem, "p-hw", homework_goal.name, "minutes_practised")

        fault_at_wall = utcnow() + datetime.timedelta(seconds=4)
        due_during = (fault_at_wall + datetime.timedelta(seconds=4)).replace(microsecond=0)
        due_after = (fault_at_wall + datetime.timedelta(seconds=OUTAGE_S + 3)).replace(
            microsecond=0)
        r_during = one_shot_reminder(rem, "p-due1", due_during)
        r_after = one_shot_reminder(rem, "p-due2", due_after)
        due_after_mono = time.monotonic() + (due_after - utcnow()).total_seconds()
        want = {occurrence_id(r_during.name, due_during): "during",
                occurrence_id(r_after.name, due_after): "after"}

        sub = Subscriber([stack.services["reminders"]])
        sub.start()

        def probe_goals(seq):
            if seq % 2:
                goals.GetGoal(G.GetGoalRequest(name=closing.name), metadata=CLINICIAN,
                              timeout=CALL_DEADLINE_S)
            else:
                simple_goal_call(goals, seq)

        def simple_goal_call(stub, seq):
            stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
                patient="p-probe", title=f"Walk 20 minutes a day {seq}"),
                request_id=f"probe-goal-{seq}"), metadata=CLINICIAN, timeout=CALL_DEADLINE_S)

        def probe_meas(seq):
            if seq % 2:
                meas.ListMeasurements(M.ListMeasurementsRequest(patient="p-probe", page_size=5),
                                      metadata=CLINICIAN, timeout=CALL_DEADLINE_S)
            else:
                meas.RecordMeasurement(M.RecordMeasurementRequest(
                    measurement=M.Measurement(patient="p-probe", metric="mood", value=5),
                    request_id=f"probe-meas-{seq}"), metadata=CLINICIAN, timeout=CALL_DEADLINE_S)

        def probe_rem(seq):
            if seq % 2:
                rem.GetReminder(R.GetReminderRequest(name=r_during.name), metadata=CLINICIAN,
                                timeout=CALL_DEADLINE_S)
            else:
                rem.ListReminders(R.ListRemindersRequest(patient="p-due1"),
                                  metadata=CLINICIAN, timeout=CALL_DEADLINE_S)

        probers = [Prober("goals", probe_goals), Prober("measurements", probe_meas),
                   Prober("reminders", probe_rem)]
        health = {n: [] for n in stack.services}   # (time, status)
        health_stop = threading.Event()

        def watch_health():
            while not health_stop.is_set():
                for n, svc in stack.services.items():
                    health[n].append((time.monotonic(), svc.health()))
                health_stop.wait(0.1)
        watcher = threading.Thread(target=watch_health, daemon=True)
        for p in probers:
            p.start()
        watcher.start()

        try:
            time.sleep(max(0.0, (fault_at_wall - utcnow()).total_seconds()))
            # Queue one effect in each outbox, then break Redis at once (the relays poll every
            # 200 ms, so these deliveries have to wait for Redis to come back).
            goals.TransitionGoal(G.TransitionGoalRequest(
                name=closing.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_REJECTED,
                reason="not a priority now", etag=closing.etag), metadata=CLINICIAN, timeout=5)
            progress = meas.GetGoalProgress(M.GetGoalProgressRequest(goal=stalled.name),
                                            metadata=CLINICIAN, timeout=5)
            rem.RecordCompletion(R.RecordCompletionRequest(
                reminder=homework.name, occurrence_id=occurrence_id(homework.name, hw_start),
                outcome=R.COMPLETION_OUTCOME_DONE, value=12), metadata=CLINICIAN, timeout=5)
            fault_at = time.monotonic()
            fault_wall = utcnow()
            if frozen:
                stack.redis_freeze()
            else:
                stack.redis_kill()
            suggested = G.GoalAchievementStatus.Name(progress.suggested_achievement_status)
            log(f"[{result.scenario}] Redis {'frozen' if frozen else 'killed'}; effects queued "
                f"just before (suggested {suggested})")
            time.sleep(OUTAGE_S)
            if frozen:
                stack.redis_thaw()
                back_at = time.monotonic()
            else:
                back_at = stack.redis_restart()
            log(f"[{result.scenario}] Redis back after {back_at - fault_at:.1f} s")
            # Evidence for finding 2 of docs/reliability.md: relay leases left behind by a relay
            # that was mid-drain when Redis went away (they block that patient until they expire).
            leases = {}
            for key in redis_keys(stack.redis.port, "trellis:*:outbox_lease"):
                leases[key.decode()] = resp_command(stack.redis.port, "PTTL", key)
            result.figures["outbox_leases_at_return_pttl_ms"] = leases

            recovered = {}

            def bounded(what, predicate, relay=False):
                """Polls until predicate() holds; fails when it took more than RECOVERY_S after
                Redis's return (waits up to 60 s to report how long it did take). The relay leases
                left at the fault are named in the message (a relay re-enters its own lease, so
                they must not hold an effect back)."""
                ok = wait_until(predicate, limit=max(0.0, back_at + 60 - time.monotonic()),
                                step=0.05)
                took = time.monotonic() - back_at
                recovered[what] = round(took, 2) if ok else None
                if not ok:
                    result.fail(f"{what}: not recovered 60 s after Redis returned")
                elif took > RECOVERY_S:
                    message = (f"{what}: recovered {took:.1f} s after Redis returned (more than "
                               f"{RECOVERY_S:.0f} s)")
                    if relay and leases:
                        message += f"; relay leases left at the fault: {leases}"
                    result.fail(message)
                return ok

            for n, svc in stack.services.items():
                bounded(f"{n} health SERVING", lambda svc=svc: svc.health() == "SERVING")

            def write_ok(fn):
                def attempt():
                    try:
                        fn()
                        return True
                    except grpc.RpcError:
                        return False
                return attempt
            bounded("goals accepts a write", write_ok(lambda: goals.CreateGoal(
                G.CreateGoalRequest(goal=G.Goal(patient="p-after", title="Walk 20 minutes a day")),
                metadata=CLINICIAN, timeout=2)))
            bounded("measurements accepts a write", write_ok(lambda: meas.RecordMeasurement(
                M.RecordMeasurementRequest(measurement=M.Measurement(
                    patient="p-after", metric="mood", value=4)), metadata=CLINICIAN, timeout=2)))
            bounded("reminders accepts a write", write_ok(lambda: one_shot_reminder(
                rem, "p-after", utcnow().replace(microsecond=0) + datetime.timedelta(hours=2))))

            during_id = next(k for k, v in want.items() if v == "during")
            bounded("reminder due during the outage delivered",
                    lambda: during_id in sub.first_seen)

            def reminder_ended():
                try:
                    r = rem.GetReminder(R.GetReminderRequest(name=closing_rem.name),
                                        metadata=CLINICIAN, timeout=2)
                except grpc.RpcError:
                    return False
                return r.state == R.REMINDER_STATE_ENDED
            bounded("goals outbox: closed goal's reminder ended", reminder_ended, relay=True)

            def written_back():
                try:
                    g = goals.GetGoal(G.GetGoalRequest(name=stalled.name), metadata=CLINICIAN,
                                      timeout=2)
                except grpc.RpcError:
                    return False
                return g.achievement_status == progress.suggested_achievement_status
            bounded("measurements outbox: achievement written back", written_back, relay=True)

            def homework_recorded():
                try:
                    got = meas.ListMeasurements(M.ListMeasurementsRequest(
                        patient="p-hw", metric="minutes_practised"), metadata=CLINICIAN,
                        timeout=2)
                except grpc.RpcError:
                    return False
                return len(got.measurements) > 0
            bounded("reminders outbox: homework value recorded", homework_recorded, relay=True)

            # The reminder due after the return: within RECOVERY_S of its due time.
            after_id = next(k for k, v in want.items() if v == "after")
            got = wait_until(lambda: after_id in sub.first_seen,
                             limit=max(0.0, due_after_mono + 60 - time.monotonic()))
            if not got:
                result.fail("the reminder due after the outage was not delivered")
            else:
                late = sub.first_seen[after_id] - due_after_mono
                recovered["reminder due after the outage, after its due time"] = round(late, 2)
                result.check(late <= RECOVERY_S, f"the reminder due after the outage came "
                                                 f"{late:.1f} s after its due time")
            # Let redeliveries, if any, show up (visibility timeout 5 s), then stop.
            time.sleep(6)
        finally:
            for p in probers:
                p.stop.set()
            health_stop.set()
            for p in probers:
                p.join(10)
            watcher.join(10)
            sub.close()

        # Exactly once in effect: one homework measurement, each delivery acknowledged once.
        hw = meas.ListMeasurements(M.ListMeasurementsRequest(
            patient="p-hw", metric="minutes_practised"), metadata=CLINICIAN, timeout=10)
        dup_hw = max(0, len(hw.measurements) - 1)
        revs = goals.ListGoalRevisions(G.ListGoalRevisionsRequest(name=stalled.name),
                                       metadata=CLINICIAN, timeout=10)
        result.figures["stalled_goal_revisions"] = len(revs.revisions)
        # Did each effect cross the outage (delivered after the fault), or did its relay get it
        # out in the milliseconds before? Read from the public resources' times.
        ended = rem.GetReminder(R.GetReminderRequest(name=closing_rem.name), metadata=CLINICIAN,
                                timeout=10)
        crossed = {
            "goal closed -> reminder ended": ended.update_time.ToDatetime(
                tzinfo=datetime.timezone.utc) > fault_wall,
            "achievement write-back": any(
                r.create_time.ToDatetime(tzinfo=datetime.timezone.utc) > fault_wall
                for r in revs.revisions),
            "homework value -> measurement": bool(hw.measurements) and
            hw.measurements[0].create_time.ToDatetime(tzinfo=datetime.timezone.utc) > fault_wall,
        }
        result.figures["effects_delivered_after_the_fault"] = crossed
        for what, yes in crossed.items():
            if not yes:
                result.note(f"{what}: delivered before the fault (its relay was quicker); "
                            "this run did not test it across the outage")
        result.duplicates = dup_hw + len(sub.after_ack)
        result.check(dup_hw == 0, f"the homework value was recorded {len(hw.measurements)} times")
        result.check(not sub.after_ack, f"deliveries came after their ack: {sub.after_ack[:3]}")
        result.check(set(want) <= set(sub.received), "a due reminder was never delivered")
        result.lost = len(set(want) - set(sub.received))
        result.check(not sub.errors, f"subscriber errors: {sub.errors[:3]}")

        # During the outage: every call answered within its deadline, UNAVAILABLE.
        outage_lo, outage_hi = fault_at + 0.5, back_at
        codes = Counter()
        slow = []
        total = acked = 0
        first_ok_after = {}
        for p in probers:
            for t, latency, code in p.samples:
                total += 1
                acked += code == "OK"
                if t >= outage_lo and t + latency <= outage_hi:
                    codes.add(code)
                    if latency > CALL_DEADLINE_S + 1:
                        slow.append((p.name, round(latency, 2), code))
                if t >= fault_at and code == "OK":
                    first_ok_after.setdefault(p.name, t + latency)
            hung = [s for s in p.samples if s[1] > CALL_DEADLINE_S + 1]
            result.check(not hung, f"{p.name}: calls outlived their deadline: {hung[:3]}")
        during = codes.snapshot()
        result.figures["codes_during_outage"] = during
        result.check(during, "no call was made during the outage")
        result.check(set(during) <= {"UNAVAILABLE"},
                     f"calls during the outage answered {during} (want UNAVAILABLE only)")
        latencies = [lat for p in probers for t, lat, c in p.samples
                     if outage_lo <= t and t + lat <= outage_hi]
        if latencies:
            result.figures["outage_call_latency_max_s"] = round(max(latencies), 3)
        result.requests = total
        result.acknowledged = acked
        windows = [first_ok_after[n] - fault_at for n in first_ok_after]
        result.error_window = (f"{max(windows):.1f} s (outage {OUTAGE_S:.0f} s)"
                               if len(windows) == len(probers) else "no recovery")
        result.figures["recovered_after_return_s"] = recovered
        for n, samples in health.items():
            mid = [s for t, s in samples if fault_at + 3 <= t <= back_at - 0.5]
            result.check(mid and all(s == "NOT_SERVING" for s in mid),
                         f"{n} health during the outage: {sorted(set(mid))}")
        for n, svc in stack.services.items():
            if not alive(svc.proc):
                result.fail(f"{n} exited (status {svc.proc.poll()}) during scenario 2")


def scenario_down():
    r = Result("2 redis down 10 s", "Redis SIGKILL, restarted 10 s later (connections refused)")
    return r, lambda res: run(res, frozen=False)


def scenario_frozen():
    r = Result("2b redis frozen 10 s", "Redis SIGSTOP, SIGCONT 10 s later (connections hang)")
    return r, lambda res: run(res, frozen=True)


def run_mid_delivery(result):
    """The outage strikes while a relay is delivering: the goal service's relay has taken a
    patient's lease and is calling the reminder service (frozen, so the call hangs until its 5 s
    timeout) when Redis is killed; it is restarted 10 s later from its append-only file, and the
    reminder service resumes with it. The closed goal's reminder must end within RECOVERY_S of
    Redis's return."""
    with Stack(service_args={"reminders": REMINDER_FLAGS}) as stack:
        goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        rem_svc = stack.services["reminders"]
        rem = reminders_pb2_grpc.ReminderServiceStub(rem_svc.channel)
        # Warm the relay's channel to the reminder service (a first effect, delivered), so that
        # the call below hangs on an open connection until its 5 s timeout.
        warm = simple_goal(goals, "p-warm")
        warm_reminder, _ = daily_reminder(rem, "p-warm", warm.name)
        goals.TransitionGoal(G.TransitionGoalRequest(
            name=warm.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_REJECTED,
            reason="not a priority now", etag=warm.etag), metadata=CLINICIAN, timeout=5)
        result.check(wait_until(lambda: rem.GetReminder(R.GetReminderRequest(
            name=warm_reminder.name), metadata=CLINICIAN, timeout=5).state ==
            R.REMINDER_STATE_ENDED, 30, 0.1), "the first effect was not delivered")
        closing = simple_goal(goals, "p-mid")
        reminder, _ = daily_reminder(rem, "p-mid", closing.name)
        rem_svc.proc.send_signal(signal.SIGSTOP)      # the relay's call will hang (5 s timeout)
        goals.TransitionGoal(G.TransitionGoalRequest(
            name=closing.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_REJECTED,
            reason="not a priority now", etag=closing.etag), metadata=CLINICIAN, timeout=5)
        lease_key = "trellis:goals:{t1:p-mid}:outbox_lease"
        taken = wait_until(lambda: resp_command(stack.redis.port, "EXISTS", lease_key) == 1, 5,
                           0.01)
        result.check(taken, "the relay never took the patient's lease")
        stack.redis_kill()
        time.sleep(OUTAGE_S)
        back_at = stack.redis_restart()
        rem_svc.proc.send_signal(signal.SIGCONT)
        pttl = resp_command(stack.redis.port, "PTTL", lease_key)
        result.figures["lease_pttl_at_return_ms"] = pttl

        def ended():
            try:
                r = rem.GetReminder(R.GetReminderRequest(name=reminder.name), metadata=CLINICIAN,
                                    timeout=2)
            except grpc.RpcError:
                return False
            return r.state == R.REMINDER_STATE_ENDED
        ok = wait_until(ended, limit=60, step=0.05)
        took = time.monotonic() - back_at
        result.figures["reminder_ended_after_return_s"] = round(took, 2) if ok else None
        result.requests, result.acknowledged = 1, 1
        result.error_window = f"effect {took:.1f} s after Redis returned" if ok else "never"
        if not ok:
            result.lost = 1
            result.fail("the closed goal's reminder never ended (60 s after Redis returned)")
        elif took > RECOVERY_S:
            result.fail(
                f"goals outbox: the effect was delivered {took:.1f} s after Redis returned (more "
                f"than {RECOVERY_S:.0f} s; the relay's lease had PTTL {pttl} ms at the return)")
        result.check(alive(rem_svc.proc) and alive(stack.services["goals"].proc),
                     "a service exited")


def scenario_mid_delivery():
    r = Result("2c outage mid-delivery",
               "Redis SIGKILL, back 10 s later, while the goals relay calls a frozen peer")
    return r, run_mid_delivery
