"""Scenario 4: a peer service down while effects for it pile up in an outbox.

A. The reminder service is killed (SIGKILL); meanwhile N goals, each with a reminder, are closed
   (GoalService's outbox: EndGoalReminders). It stays down long enough for the relay to back
   off, then comes back on its address: every reminder must end (GOAL_CLOSED).
B. The goal service is killed; meanwhile a new weekly GAD-7 score is recorded for each of N
   stalled goals and their progress is read (MeasurementService reads the goals from the shared
   cache and queues an achievement write-back each: SetAchievementStatus). It comes back: every
   goal must show the suggested achievement status, with exactly one achievement revision.

Exactly once in effect: the outbox entries are read from Redis before the peer returns and, once
everything has been delivered, sent again as they are (what a relay that crashed between the
peer's answer and the removal of the entry would do). The receivers must absorb them: no second
achievement revision, no change to an ended reminder.

Sizes: TRELLIS_FAULTS_PEER_GOALS (CI 15, full 60) goals per part; TRELLIS_FAULTS_PEER_DOWN_S
(CI 8, full 20) seconds each peer stays down.
"""
import time

import grpc

from faultlib import (CLINICIAN, PLATFORM, G, M, R, Result, Stack, daily_reminder,
                      goals_pb2_grpc, log, measurements_pb2_grpc, redis_keys, reminders_pb2_grpc,
                      resp_command, size, stalled_goal, submit_gad7, utcnow,
                      wait_until)

import datetime


def outbox_entries(stack, service):
    """{patient: [(entry id, kind, payload bytes)]} of `service`'s outboxes ("goals", "meas")."""
    out = {}
    for key in redis_keys(stack.redis.port, f"trellis:{service}:{{*}}:outbox"):
        patient = key.decode().split("{", 1)[1].split("}", 1)[0]
        for raw in resp_command(stack.redis.port, "LRANGE", key, 0, -1):
            entry_id, kind, payload = raw.split(b"|", 2)
            out.setdefault(patient, []).append((entry_id.decode(), kind.decode(), payload))
    return out


def replay(channel, method, entries):
    """Sends each payload again, as its relay would after a crash; returns the answer codes."""
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    codes = {}
    for _, _, payload in entries:
        try:
            call(payload, metadata=PLATFORM, timeout=10)
            code = "OK"
        except grpc.RpcError as e:
            code = e.code().name
        codes[code] = codes.get(code, 0) + 1
    return codes


def part_a(result, stack, n, down_s):
    goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
    rem = reminders_pb2_grpc.ReminderServiceStub(stack.channel("reminders"))
    pairs = []
    for i in range(n):
        g = stalled_goal(goals, None, f"pa{i}", submit=0)   # an active goal, SMART-complete
        r, _ = daily_reminder(rem, f"pa{i}", g.name)
        pairs.append((g, r))
    stack.services["reminders"].kill()
    down_at = time.monotonic()
    closed = 0
    for g, _ in pairs:
        goals.TransitionGoal(G.TransitionGoalRequest(
            name=g.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_COMPLETED,
            reason="target reached", etag=g.etag), metadata=CLINICIAN, timeout=10)
        closed += 1
    result.requests += n              # calls that queue an effect for the absent peer
    result.acknowledged += closed
    queued = outbox_entries(stack, "goals")
    queued_n = sum(len(v) for v in queued.values())
    result.check(queued_n == n, f"A: {queued_n} EndGoalReminders entries queued, want {n}")
    time.sleep(max(0.0, down_at + down_s - time.monotonic()))
    stack.start("reminders")
    back_at = time.monotonic()
    rem = reminders_pb2_grpc.ReminderServiceStub(stack.channel("reminders"))

    def ended_count():
        done = 0
        for _, r in pairs:
            got = rem.GetReminder(R.GetReminderRequest(name=r.name), metadata=CLINICIAN,
                                  timeout=10)
            done += (got.state == R.REMINDER_STATE_ENDED and
                     got.end_reason == R.REMINDER_END_REASON_GOAL_CLOSED)
        return done

    ok = wait_until(lambda: ended_count() == n, limit=120, step=0.5)
    took = time.monotonic() - back_at
    missing = n - ended_count()
    result.lost += missing
    result.check(ok, f"A: {missing} of {n} reminders of closed goals did not end within 120 s "
                     "of the reminder service's return")
    log(f"[{result.scenario}] A: {n - missing}/{n} reminders ended {took:.1f} s after the "
        f"reminder service returned (down {time.monotonic() - down_at - took:.1f} s)")
    result.figures["A_delivered_after_return_s"] = round(took, 1)
    result.check(wait_until(lambda: not outbox_entries(stack, "goals"), 30),
                 "A: goals outbox not empty after delivery")

    before = {r.name: rem.GetReminder(R.GetReminderRequest(name=r.name), metadata=CLINICIAN,
                                      timeout=10) for _, r in pairs}
    codes = replay(stack.channel("reminders"), "/trellis.v1.ReminderService/EndGoalReminders",
                   [e for v in queued.values() for e in v])
    result.figures["A_replay_codes"] = codes
    result.check(set(codes) <= {"OK"}, f"A: replayed EndGoalReminders answered {codes}")
    changed = 0
    for name, old in before.items():
        now = rem.GetReminder(R.GetReminderRequest(name=name), metadata=CLINICIAN, timeout=10)
        changed += now.etag != old.etag or now.update_time != old.update_time
    result.duplicates += changed
    result.check(changed == 0, f"A: {changed} ended reminders changed when the effect came again")


def part_b(result, stack, n, down_s):
    goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
    meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
    weeks = 7
    made = []
    for i in range(n):
        g = stalled_goal(goals, meas, f"pb{i}", weeks=weeks, submit=weeks - 1)
        goals.GetGoal(G.GetGoalRequest(name=g.name), metadata=CLINICIAN, timeout=10)  # cached
        made.append(g)
    start = utcnow() - datetime.timedelta(weeks=weeks - 1, hours=1)
    stack.services["goals"].kill()
    down_at = time.monotonic()
    suggested = {}
    for i, g in enumerate(made):
        # The week's score arrives while the goal service is down; then progress is read.
        submit_gad7(meas, f"pb{i}", g.name, start + datetime.timedelta(weeks=weeks - 1, hours=1),
                    weeks - 1)
        p = meas.GetGoalProgress(M.GetGoalProgressRequest(goal=g.name), metadata=CLINICIAN,
                                 timeout=10)
        suggested[g.name] = p.suggested_achievement_status
    result.requests += n
    result.acknowledged += len(suggested)
    queued = outbox_entries(stack, "meas")
    queued_n = sum(len(v) for v in queued.values())
    result.check(queued_n == n, f"B: {queued_n} SetAchievementStatus entries queued, want {n}")
    time.sleep(max(0.0, down_at + down_s - time.monotonic()))
    stack.start("goals")
    back_at = time.monotonic()
    goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))

    def achievement_revisions(name):
        revs = goals.ListGoalRevisions(G.ListGoalRevisionsRequest(name=name, page_size=100),
                                       metadata=CLINICIAN, timeout=10)
        return sum(r.kind == G.GOAL_REVISION_KIND_ACHIEVEMENT for r in revs.revisions)

    def written():
        done = 0
        for g in made:
            got = goals.GetGoal(G.GetGoalRequest(name=g.name), metadata=CLINICIAN, timeout=10)
            done += got.achievement_status == suggested[g.name]
        return done

    ok = wait_until(lambda: written() == n, limit=120, step=0.5)
    took = time.monotonic() - back_at
    missing = n - written()
    result.lost += missing
    result.check(ok, f"B: {missing} of {n} achievement write-backs not applied within 120 s of "
                     "the goal service's return")
    log(f"[{result.scenario}] B: {n - missing}/{n} write-backs applied {took:.1f} s after the "
        "goal service returned")
    result.figures["B_delivered_after_return_s"] = round(took, 1)
    result.check(wait_until(lambda: not outbox_entries(stack, "meas"), 30),
                 "B: measurements outbox not empty after delivery")
    codes = replay(stack.channel("goals"), "/trellis.v1.GoalService/SetAchievementStatus",
                   [e for v in queued.values() for e in v])
    result.figures["B_replay_codes"] = codes
    result.check(set(codes) <= {"OK"}, f"B: replayed SetAchievementStatus answered {codes}")
    extra = 0
    for g in made:
        k = achievement_revisions(g.name)
        extra += max(0, k - 1)
        result.check(k >= 1 or not ok, f"B: {g.name} has no achievement revision")
    result.duplicates += extra
    result.check(extra == 0, f"B: {extra} extra achievement revisions (an effect applied twice)")


def run(result):
    n = size("peer_goals", 15, 60)
    down_s = size("peer_down_s", 8.0, 20.0)
    result.figures.update({"goals_per_part": n, "down_s": down_s})
    with Stack() as stack:
        part_a(result, stack, n, down_s)
        part_b(result, stack, n, down_s)
    result.error_window = f"peer down {down_s:.0f} s x2"


def scenario():
    r = Result("4 peer service down",
               "reminders, then goals SIGKILLed while outbox effects for them queue; replay")
    return r, run
