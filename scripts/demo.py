#!/usr/bin/python3
"""The guided demo behind `make demo`: the story Trellis exists for, told through trellisctl.

A client with anxiety states a wish; the SMART check explains why it is not yet a goal; client and
clinician agree a measurable, time-bound goal with two objectives and reminders; twelve weeks of
scores and practice are recorded (backdated); progress, adherence, a second goal that stalls and is
flagged for review, and the plan as FHIR. Every step prints what it did and checks that the result
is what the story says; the first step that fails ends the demo with exit status 1, naming it.

Only public RPCs, only through trellisctl (--output json, parsed here). scripts/demo.sh finds or
starts the stack and runs this:

  demo.py --ctl TRELLISCTL --secret_file DEV_SECRET --out DIR [--tenant T] [--patient P]

The service addresses come from the environment trellisctl reads (TRELLIS_GOALS_ADDR, ...).
"""
import argparse
import datetime
import json
import os
import secrets
import shlex
import subprocess
import sys
import time

UTC = datetime.timezone.utc
ZONE = "Europe/London"

# The story's numbers. Goal 1: GAD-7 from 15 to below 8 (target 7) in 12 weeks; it started 11
# weeks ago and is due in one. One GAD-7 a week since the start, the last one today.
GAD7_WEEKLY = [15, 14, 14, 13, 12, 12, 11, 10, 10, 9, 9, 8]
GOAL1_START_DAYS_AGO = 77
GOAL1_DUE_DAYS_AHEAD = 7
# Panic attacks counted at the end of each completed week.
PANIC_WEEKLY = [5, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1]
# Goal 2: PHQ-9 from 14 to below 10 in 12 weeks, started 8 weeks ago; the scores do not move.
PHQ9_WEEKLY = [14, 13, 14, 14, 13, 13, 14, 13, 13]
GOAL2_START_DAYS_AGO = 56
GOAL2_DUE_DAYS_AHEAD = 28
# A completion may be recorded until 7 days after its occurrence (ReminderService); the last
# week's practice occurrences are completed through the reminder, one of them skipped.
COMPLETION_WINDOW = datetime.timedelta(days=7)
SKIPPED_RECENT_INDEX = 3  # counted from the most recent occurrence
# The measurement service writes a stalled goal's needs-review flag back through its outbox.
WRITE_BACK_WAIT_SECONDS = 20


class StepFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def indent(text, prefix="    "):
    return "\n".join(prefix + line if line else line for line in text.rstrip("\n").split("\n"))


def short(enum_value):
    """GOAL_LIFECYCLE_STATUS_ACTIVE -> active (as trellisctl's tables show enums)."""
    if not enum_value:
        return "-"
    for prefix in ("GOAL_LIFECYCLE_STATUS_", "GOAL_ACHIEVEMENT_STATUS_", "RELIABLE_CHANGE_",
                   "SMART_VERDICT_", "SMART_LETTER_", "REMINDER_STATE_", "COMPLETION_OUTCOME_"):
        if enum_value.startswith(prefix):
            return enum_value[len(prefix):].lower().replace("_", "-")
    return enum_value


def rfc3339(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")[:19] + "+00:00")


def compact(rfc3339_utc):
    """2026-11-20T20:00:00Z -> 20261120T200000Z (occurrence ids; request ids)."""
    return rfc3339_utc.replace("-", "").replace(":", "")


def day_of(local_date):
    return datetime.date(local_date["year"], local_date["month"], local_date["day"])


def midnight(day):
    return datetime.datetime(day.year, day.month, day.day, tzinfo=UTC)


class Ctl:
    """Runs trellisctl with a token of the demo tenant; JSON results parsed."""

    def __init__(self, binary, secret_file, tenant):
        self.binary = binary
        self.secret_file = secret_file
        self.tenant = tenant
        self.tokens = {}
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TRELLIS_TOKEN", "TRELLIS_TLS", "TRELLIS_OUTPUT"))}
        self.env["TRELLIS_DEADLINE"] = "20s"
        self.calls = 0

    def run(self, args, token="", check=True):
        self.calls += 1
        env = dict(self.env, TRELLIS_TOKEN=token)
        out = subprocess.run([self.binary, *args], env=env, capture_output=True, text=True,
                             timeout=60)
        if check and out.returncode != 0:
            raise StepFailed(f"trellisctl {shlex.join(args)} exited {out.returncode}: "
                             f"{out.stderr.strip()}")
        return out

    def token(self, role, patient=None):
        key = (role, patient)
        if key not in self.tokens:
            args = ["token", "--secret_file", self.secret_file, "--tenant", self.tenant,
                    "--role", role, "--sub", f"demo-{role}", "--ttl", "1h", "--output", "json"]
            if patient:
                args += ["--patient", patient]
            self.tokens[key] = json.loads(self.run(args).stdout)["token"]
        return self.tokens[key]

    def json(self, *args, role="clinician", patient=None):
        out = self.run([*args, "--output", "json"], self.token(role, patient))
        return json.loads(out.stdout)

    def table(self, *args, role="clinician", patient=None):
        return self.run([*args, "--output", "table"], self.token(role, patient)).stdout


def show(*args):
    """Prints a command the way a person would type it."""
    say("  $ trellisctl " + shlex.join(args))


def expect(condition, message):
    if not condition:
        raise StepFailed(message)


def gad7_answers(total):
    answers = [0] * 7
    for i in range(total):
        answers[i % 7] += 1
    return ",".join(map(str, answers))


def phq9_answers(total):
    """Spread over items 1-8; item 9 (thoughts of self-harm) stays 0: no safety flag."""
    answers = [0] * 9
    for i in range(total):
        answers[i % 8] += 1
    return ",".join(map(str, answers))


class Story:
    def __init__(self, ctl, out_dir, patient):
        self.ctl = ctl
        self.out = out_dir
        self.p = patient
        self.now = datetime.datetime.now(UTC)

    def at(self, day, hours):
        """An instant `hours` into the UTC day `day`, never later than a minute ago."""
        return min(midnight(day) + datetime.timedelta(hours=hours),
                   self.now - datetime.timedelta(minutes=1))

    # 1 ------------------------------------------------------------------------------------------
    def wish(self):
        c = self.ctl
        title = "I want to feel less anxious"
        show("goals", "smart", "--patient", self.p, "--title", title)
        smart = c.json("goals", "smart", "--patient", self.p, "--title", title, role="client",
                       patient=self.p)
        expect(smart.get("passes") is False, "the SMART check passed a vague wish")
        vague = [f for f in smart["findings"] if f["rule"] == "VAGUE_WORDING"]
        expect(vague and vague[0]["verdict"] == "SMART_VERDICT_FAIL" and vague[0]["suggestion"],
               "no failing VAGUE_WORDING finding with a suggested rewrite")
        failing = sorted({short(f["letter"])[0].upper() for f in smart["findings"]
                          if f["verdict"] == "SMART_VERDICT_FAIL"}, key="SMART".index)
        say(f"  SMART: not yet a goal; failing letters: {' '.join(failing)}")
        for f in smart["findings"]:
            if f["verdict"] == "SMART_VERDICT_OK":
                continue
            say(f"    {short(f['letter'])[0].upper()} {short(f['verdict']):4}  {f['message']}")
        say(f"  Suggested rewrite of \"{vague[0]['excerpt']}\": \"{vague[0]['suggestion']}\"")
        goal = c.json("goals", "create", "--patient", self.p, "--title", title, "--expressed_by",
                      "client", role="client", patient=self.p)
        expect(goal["lifecycleStatus"] == "GOAL_LIFECYCLE_STATUS_PROPOSED",
               f"the client's goal is {goal['lifecycleStatus']}, not proposed")
        self.goal1 = goal["name"]
        say(f"  The client records the wish as a proposed goal: {self.goal1}")

    # 2 ------------------------------------------------------------------------------------------
    def agree(self):
        c = self.ctl
        start, due = f"today-{GOAL1_START_DAYS_AGO}d", f"today+{GOAL1_DUE_DAYS_AHEAD}d"
        update = ["goals", "update", self.goal1,
                  "--title", "Reduce GAD-7 from 15 to below 8 within 12 weeks",
                  "--description", "Practise breathing exercises 15 minutes daily and track "
                  "panic attacks weekly; GAD-7 every two weeks",
                  "--category", "symptom-management", "--metric", "gad7", "--direction",
                  "decrease", "--baseline", "15", "--target", "7", "--start", start, "--due", due,
                  "--concern", "generalised anxiety with panic attacks", "--agreement", "agreed",
                  "--reason", "agreed with the client in session"]
        show(*update)
        goal = c.json(*update)
        smart = c.json("goals", "smart", self.goal1)
        expect(smart["passes"], "the agreed goal does not pass SMART: " + "; ".join(
            f["message"] for f in smart["findings"] if f["verdict"] == "SMART_VERDICT_FAIL"))
        say("  SMART: " + ", ".join(f"{short(f['letter'])[0].upper()} {short(f['verdict'])}"
                                    for f in smart["findings"]))
        show("goals", "transition", self.goal1, "--to", "active", "--reason", "agreed in session")
        moved = c.json("goals", "transition", self.goal1, "--to", "active", "--reason",
                       "agreed in session")["goal"]
        expect(moved["lifecycleStatus"] == "GOAL_LIFECYCLE_STATUS_ACTIVE",
               f"goal 1 is {moved['lifecycleStatus']} after the transition, not active")
        self.start1 = day_of(goal["startDate"])
        self.due1 = day_of(goal["dueDate"])
        expect((self.due1 - self.start1).days == 84, "goal 1 does not span 12 weeks")

        c.json("metrics", "define", "--id", "practice_minutes", "--display_name",
               "Breathing practice (minutes)", "--kind", "duration-minutes", "--unit", "min",
               "--min", "0", "--max", "240", "--better", "higher", "--integer")
        c.json("metrics", "define", "--id", "panic_attacks", "--display_name",
               "Panic attacks per week", "--kind", "count-per-period", "--period", "week",
               "--unit", "{count}", "--min", "0", "--max", "100", "--better", "lower",
               "--integer")
        common = ["--patient", self.p, "--parent", self.goal1, "--start", start, "--due", due,
                  "--status", "active"]
        o1 = c.json("goals", "create", *common, "--title",
                    "Practise breathing exercises 15 minutes daily", "--metric",
                    "practice_minutes", "--direction", "increase", "--baseline", "0", "--target",
                    "15")
        o2 = c.json("goals", "create", *common, "--title",
                    "Track panic attacks weekly, down to at most 1 a week", "--metric",
                    "panic_attacks", "--direction", "decrease", "--baseline", "5", "--target",
                    "1")
        self.practice_objective, self.panic_objective = o1["name"], o2["name"]
        parent = c.json("goals", "get", self.goal1)
        expect(parent["objectives"] == [o1["name"], o2["name"]],
               f"goal 1 lists objectives {parent['objectives']}")
        say(f"  Goal 1 (active, {self.start1} .. {self.due1}): {moved['title']}")
        say(f"    objective: {o1['title']}  [{short(o1['lifecycleStatus'])}]")
        say(f"    objective: {o2['title']}  [{short(o2['lifecycleStatus'])}]")

    # 3 ------------------------------------------------------------------------------------------
    def remind(self):
        c = self.ctl
        start = f"{self.start1.isoformat()}T20:00"
        practice = ["reminders", "create", "--patient", self.p, "--goal",
                    self.practice_objective, "--kind", "practice", "--text",
                    "Breathing practice, 15 minutes", "--start", start, "--zone", ZONE,
                    "--rrule", "FREQ=DAILY", "--channel", "push"]
        show(*practice)
        self.practice = c.json(*practice)
        checkin = ["reminders", "create", "--patient", self.p, "--goal", self.goal1, "--kind",
                   "check-in-questionnaire", "--instrument", "gad7", "--text",
                   "Your GAD-7 check-in", "--start", f"{self.start1.isoformat()}T18:00",
                   "--zone", ZONE, "--rrule", "FREQ=WEEKLY;INTERVAL=2", "--channel", "in-app"]
        show(*checkin)
        self.checkin = c.json(*checkin)
        for r, hour in ((self.practice, 20), (self.checkin, 18)):
            expect(r["state"] == "REMINDER_STATE_ACTIVE", f"{r['name']} is {r['state']}")
            nxt = c.json("reminders", "preview", "--start", self.local_start(r), "--zone", ZONE,
                         "--rrule", r["schedule"]["rrule"], "--count", "2")["occurrences"]
            expect(nxt and parse_time(nxt[0]["time"]) == parse_time(r["nextOccurrenceTime"]),
                   f"{r['name']}: next occurrence {r.get('nextOccurrenceTime')} is not the "
                   f"schedule's {nxt[0]['time'] if nxt else None}")
            local = [datetime.datetime.fromisoformat(o["localTime"]) for o in nxt]
            expect(all(t.hour == hour and t.minute == 0 for t in local),
                   f"{r['name']} does not fire at {hour}:00 in {ZONE}: {nxt}")
            say(f"  \"{r['text']}\" {r['schedule']['rrule']} in {ZONE}: next "
                + ", ".join(o["localTime"] for o in nxt))

    def local_start(self, reminder):
        s = reminder["schedule"]["start"]
        return (f"{s['year']:04d}-{s['month']:02d}-{s['day']:02d}T"
                f"{s.get('hours', 0):02d}:{s.get('minutes', 0):02d}")

    # 4 ------------------------------------------------------------------------------------------
    def record(self):
        c = self.ctl
        say(f"  GAD-7 each week since {self.start1} (clinician, in session): "
            + " ".join(map(str, GAD7_WEEKLY)))
        for week, total in enumerate(GAD7_WEEKLY):
            t = self.at(self.start1 + datetime.timedelta(weeks=week), 10)
            args = ["measure", "questionnaire", "--patient", self.p, "--instrument", "gad7",
                    "--answers", gad7_answers(total), "--goal", self.goal1, "--time", rfc3339(t),
                    "--request_id", f"gad7-week-{week}"]
            if week == 0:
                show(*args)
            m = c.json(*args)["measurement"]
            expect(m["questionnaire"]["total"] == total,
                   f"GAD-7 week {week}: scored {m['questionnaire']['total']}, not {total}")

        say("  Panic attacks counted each week (client, in the app): "
            + " ".join(map(str, PANIC_WEEKLY)))
        for week, count in enumerate(PANIC_WEEKLY):
            t = self.at(self.start1 + datetime.timedelta(weeks=week + 1), 9)
            c.json("measure", "record", "--patient", self.p, "--metric", "panic_attacks",
                   "--value", str(count), "--goal", self.panic_objective, "--time", rfc3339(t),
                   "--request_id", f"panic-week-{week}", role="client", patient=self.p)

        # Every 20:00 occurrence of the practice reminder so far, from the service itself.
        occurrences = c.json("reminders", "preview", "--start", self.local_start(self.practice),
                             "--zone", ZONE, "--rrule", "FREQ=DAILY", "--count", "120", "--from",
                             rfc3339(midnight(self.start1)))["occurrences"]
        past = [o for o in occurrences if parse_time(o["time"]) <= self.now]
        recent = [o for o in past
                  if parse_time(o["time"]) > self.now - COMPLETION_WINDOW + datetime.timedelta(
                      minutes=30)]
        expect(len(past) >= 70 and len(recent) >= 5,
               f"the practice schedule gave {len(past)} past occurrences, {len(recent)} recent")
        skipped = recent[-1 - SKIPPED_RECENT_INDEX]["time"]
        practised = minutes = 0
        for day, o in enumerate(past):
            week = day // 7
            # Early weeks: shorter sessions and a few missed evenings; then every evening.
            if o["time"] == skipped or (week < 4 and day % 7 in (2, 5)) or \
                    (4 <= week < 8 and day % 7 == 4):
                continue
            value = 10 if week < 4 else 15
            t = parse_time(o["time"]) + datetime.timedelta(minutes=20)
            if t > self.now:
                t = parse_time(o["time"])
            c.json("measure", "record", "--patient", self.p, "--metric", "practice_minutes",
                   "--value", str(value), "--goal", self.practice_objective, "--time", rfc3339(t),
                   "--request_id", "practice-" + compact(o["time"]), role="client", patient=self.p)
            practised += 1
            minutes += value
        self.practice_days = (practised, len(past), minutes)
        say(f"  Breathing practice logged on {practised} of {len(past)} evenings "
            f"({minutes} minutes in all)")

        # Completions are accepted up to 7 days after an occurrence: the last week's go through
        # the reminder, as the client's app would record them.
        self.completed = []
        for o in recent:
            outcome = "skipped" if o["time"] == skipped else "done"
            occurrence = f"{self.practice['name']}/occurrences/{compact(o['time'])}"
            args = ["reminders", "complete", "--reminder", self.practice["name"], "--occurrence",
                    occurrence, "--outcome", outcome]
            if o is recent[0]:
                show(*args)
            done = c.json(*args, role="client", patient=self.p)
            expect(done["outcome"] == f"COMPLETION_OUTCOME_{outcome.upper()}",
                   f"{occurrence}: recorded {done['outcome']}")
            self.completed.append((o["localTime"], outcome))
        say(f"  The last {len(recent)} practice reminders completed in the app: "
            + ", ".join(f"{t[5:10]} {out}" for t, out in self.completed))
        listed = c.json("measure", "list", self.p, "--metric", "gad7")["measurements"]
        expect(len(listed) == len(GAD7_WEEKLY), f"{len(listed)} GAD-7 scores stored, "
               f"not {len(GAD7_WEEKLY)}")

    # 5 ------------------------------------------------------------------------------------------
    def progress(self):
        c = self.ctl
        p = c.json("measure", "progress", self.goal1)
        expect(p.get("reliableChange") == "RELIABLE_CHANGE_IMPROVED",
               f"goal 1 shows reliable change {p.get('reliableChange')}, not improved")
        expect(p.get("onTrack") is True, f"goal 1 is not on track (on_track {p.get('onTrack')}, "
               f"expected now {p.get('expectedValueNow')}, latest {p['latest']['value']})")
        expect(not p.get("stalled"), "goal 1 is stalled")
        expect(p.get("suggestedAchievementStatus") == "GOAL_ACHIEVEMENT_STATUS_IMPROVING",
               f"goal 1 suggests {p.get('suggestedAchievementStatus')}, not improving")
        svg = os.path.join(self.out, "goal1-gad7-progress.svg")
        args = ["measure", "progress", self.goal1, "--svg", svg]
        show(*args)
        say(indent(c.table(*args)))
        expect(os.path.getsize(svg) > 0, f"no chart written to {svg}")
        say(f"  => GAD-7 {p['baseline']['value']:g} -> {p['latest']['value']:g}: reliable "
            f"improvement, on track (the straight path is at {p['expectedValueNow']:.1f} today), "
            f"suggested status {short(p['suggestedAchievementStatus'])}")

    # 6 ------------------------------------------------------------------------------------------
    def adherence(self):
        c = self.ctl
        since = rfc3339(self.now - COMPLETION_WINDOW - datetime.timedelta(hours=1))
        args = ["reminders", "adherence", "--reminder", self.practice["name"], "--since", since]
        show(*args)
        a = c.json(*args)
        t = a["totals"]
        done = sum(1 for _, out in self.completed if out == "done")
        expect((t["done"], t["skipped"], t.get("missed", 0)) == (done, 1, 0),
               f"adherence counts done {t['done']}, skipped {t['skipped']}, missed "
               f"{t.get('missed')}; the app recorded {done} done and 1 skipped")
        expect(abs(t["adherenceRate"] - done / (done + 1)) < 1e-9,
               f"adherence rate {t['adherenceRate']}, not {done}/{done + 1}")
        expect(a["currentStreak"] == SKIPPED_RECENT_INDEX,
               f"current streak {a['currentStreak']}, not {SKIPPED_RECENT_INDEX}")
        say(indent(c.table(*args)))
        practised, evenings, minutes = self.practice_days
        say(f"  => last week: {t['done']} of {t['scheduled']} practice reminders done "
            f"({100 * t['adherenceRate']:.0f}%), current streak {a['currentStreak']}; over the "
            f"12 weeks practice on {practised} of {evenings} evenings")
        for objective in (self.practice_objective, self.panic_objective):
            p = c.json("measure", "progress", objective)
            say(f"     objective {objective.rsplit('/', 1)[1]} ({p['metric']}): "
                f"{p['baseline']['value']:g} -> {p['latest']['value']:g}, target "
                f"{p['measure']['target']:g}, suggested status "
                f"{short(p.get('suggestedAchievementStatus'))}")

    # 7 ------------------------------------------------------------------------------------------
    def stall(self):
        c = self.ctl
        create = ["goals", "create", "--patient", self.p, "--title",
                  "Reduce PHQ-9 from 14 to below 10 within 12 weeks", "--description",
                  "Schedule one pleasant activity a day and keep a weekly activity diary",
                  "--category", "behavioural-change", "--metric", "phq9", "--direction",
                  "decrease", "--baseline", "14", "--target", "9", "--start",
                  f"today-{GOAL2_START_DAYS_AGO}d", "--due", f"today+{GOAL2_DUE_DAYS_AHEAD}d",
                  "--concern", "low mood", "--agreement", "agreed", "--status", "active"]
        show(*create)
        goal = c.json(*create)
        self.goal2 = goal["name"]
        start = day_of(goal["startDate"])
        for week, total in enumerate(PHQ9_WEEKLY):
            t = self.at(start + datetime.timedelta(weeks=week), 10)
            m = c.json("measure", "questionnaire", "--patient", self.p, "--instrument", "phq9",
                       "--answers", phq9_answers(total), "--goal", self.goal2, "--time",
                       rfc3339(t), "--request_id", f"phq9-week-{week}")
            expect(m["measurement"]["questionnaire"]["total"] == total and
                   not m.get("safetyFlags"), f"PHQ-9 week {week} scored unexpectedly: {m}")
        say(f"  PHQ-9 each week since {start}: " + " ".join(map(str, PHQ9_WEEKLY)))
        p = c.json("measure", "progress", self.goal2)
        expect(p.get("stalled") is True, "goal 2 is not stalled")
        expect(p.get("reliableChange") == "RELIABLE_CHANGE_NO_RELIABLE_CHANGE",
               f"goal 2 shows reliable change {p.get('reliableChange')}")
        expect(p.get("suggestedAchievementStatus") == "GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS",
               f"goal 2 suggests {p.get('suggestedAchievementStatus')}, not no-progress")
        say(indent(c.table("measure", "progress", self.goal2, "--height", "8")))
        # The needs-review flag reaches the goal through the measurement service's outbox.
        deadline = time.monotonic() + WRITE_BACK_WAIT_SECONDS
        while True:
            g = c.json("goals", "get", self.goal2)
            if g.get("needsReview") or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        expect(g.get("needsReview") is True,
               f"goal 2 was not flagged for review within {WRITE_BACK_WAIT_SECONDS} s")
        summary = c.json("measure", "summary", self.p)
        expect(self.goal2 in summary.get("goalsNeedingReview", []),
               "the patient summary does not list goal 2 as needing review")
        expect(self.goal1 not in summary.get("goalsNeedingReview", []),
               "the patient summary lists goal 1 as needing review")
        say(f"  => goal 2 stalled and flagged for review: \"{g['needsReviewReason']}\" "
            f"(achievement status {short(g.get('achievementStatus'))})")

    # 8 ------------------------------------------------------------------------------------------
    def export(self):
        c = self.ctl
        show("goals", "export", self.p)
        bundle = json.loads(c.json("goals", "export", self.p)["bundleJson"])
        expect(bundle.get("resourceType") == "Bundle", "the goals export is not a FHIR Bundle")
        goals = [e["resource"] for e in bundle.get("entry", [])]
        expect(len(goals) == 4 and all(g["resourceType"] == "Goal" for g in goals),
               f"the plan exported {len(goals)} resources, not 4 Goals")
        by_id = {g["id"]: g for g in goals}
        goal1_id, goal2_id = self.goal1.rsplit("/", 1)[1], self.goal2.rsplit("/", 1)[1]
        # Goal 1 and its objectives are linked by goal-relationship extensions of type milestone.
        milestone = "http://hl7.org/fhir/StructureDefinition/goal-relationship"

        def linked(a, b):
            links = [e for e in by_id.get(a, {}).get("extension", []) if e.get("url") == milestone]
            return any("milestone" in json.dumps(e) and f"Goal/{b}" in json.dumps(e)
                       for e in links)
        objective_ids = [n.rsplit("/", 1)[1]
                         for n in (self.practice_objective, self.panic_objective)]
        for oid in objective_ids:
            expect(linked(goal1_id, oid) or linked(oid, goal1_id),
                   f"objective Goal/{oid} is not linked to goal 1 as a milestone")
        expect(by_id.get(goal1_id, {}).get("lifecycleStatus") == "active",
               "goal 1 is not exported as active")
        expect(by_id.get(goal2_id, {}).get("lifecycleStatus") == "active",
               "goal 2 is not exported as active")
        plan = os.path.join(self.out, "plan-goals.fhir.json")
        with open(plan, "w") as f:
            json.dump(bundle, f, indent=1)
        observations = c.table("measure", "export", self.p, "--metric", "gad7,phq9")
        obs = json.loads(observations)
        expect(obs.get("resourceType") == "Bundle" and
               len(obs.get("entry", [])) == len(GAD7_WEEKLY) + len(PHQ9_WEEKLY),
               f"the observation export holds {len(obs.get('entry', []))} entries")
        scores = os.path.join(self.out, "scores-observations.fhir.json")
        with open(scores, "w") as f:
            f.write(observations)
        for g in goals:
            achievement = "-"
            for concept in g.get("achievementStatus", {}).get("coding", []):
                achievement = concept.get("code", "-")
            target = (g.get("target") or [{}])[0]
            kind = "objective" if g["id"] in objective_ids else "goal"
            say(f"  Goal/{g['id']}  {kind:9}  {g['lifecycleStatus']:7}  {achievement:12}  "
                f"due {target.get('dueDate', '-')}  {g['description']['text'].split(chr(10))[0]}")
        say(f"  => FHIR R4 Bundle of {len(goals)} Goals written to {plan}")
        say(f"     and {len(obs['entry'])} score Observations to {scores}")


STEPS = [
    ("wish", "A client with anxiety says \"I want to feel less anxious\"; SMART explains why that "
             "is not yet a goal"),
    ("agree", "Client and clinician agree a measurable, time-bound goal with two objectives"),
    ("remind", "A daily practice reminder at 20:00 in the client's zone and a biweekly GAD-7 "
               "check-in"),
    ("record", "Twelve weeks of scores and practice are recorded (backdated)"),
    ("progress", "Progress: reliable improvement, on track; the chart"),
    ("adherence", "Adherence to the practice reminder"),
    ("stall", "A second goal stalls and is flagged for review"),
    ("export", "The plan exported as FHIR R4"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctl", required=True, help="trellisctl binary")
    ap.add_argument("--secret_file", required=True, help="the stack's HS256 dev secret")
    ap.add_argument("--out", required=True, help="directory for the chart and the FHIR files")
    suffix = secrets.token_hex(3)
    ap.add_argument("--tenant", default=f"demo-{suffix}")
    ap.add_argument("--patient", default=f"client-{suffix}")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ctl = Ctl(a.ctl, a.secret_file, a.tenant)
    story = Story(ctl, a.out, a.patient)
    say(f"Trellis guided demo: tenant {a.tenant}, patient {a.patient}, files in {a.out}")
    began = time.monotonic()
    for number, (method, title) in enumerate(STEPS, 1):
        say()
        say(f"== Step {number}/{len(STEPS)}: {title}")
        try:
            getattr(story, method)()
        except (StepFailed, subprocess.TimeoutExpired, KeyError, ValueError, OSError) as e:
            detail = e if isinstance(e, StepFailed) else f"{type(e).__name__}: {e}"
            say()
            print(f"demo FAILED at step {number} ({method}): {detail}", file=sys.stderr,
                  flush=True)
            return 1
        say(f"   step {number} ok")
    say()
    say(f"Demo complete: {len(STEPS)} steps ok, {ctl.calls} trellisctl calls in "
        f"{time.monotonic() - began:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
