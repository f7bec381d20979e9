#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets: fuzz/corpus/<target>/<name>.

The seeds are committed; run this again after changing it (or a request message) and commit what
it writes. It needs the Python stubs of the build (`cmake --build build --target trellis_py_stubs`
writes them to build/py):

    /usr/bin/python3 fuzz/make_seeds.py [--py build/py]   (Debian's python3-protobuf)

Each seed is a meaningful input of its target's format (fuzz/fuzz_target.h): valid ones that reach
deep (DST gaps and overlaps, COUNT/UNTIL, a signed token that passes every check, a scored PHQ-9)
and the edge and invalid ones next to them. Crash reproducers do not belong here but in
fuzz/regressions/<target>/, named after what they found.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import sys

FUZZ_DIR = os.path.dirname(os.path.abspath(__file__))
# The secret of fuzz/jwt_fuzz.cc (kSecret).
JWT_SECRET = b"trellis-fuzz-secret-0123456789abcdef"
EXP_2100 = 4102444800
EXP_2020 = 1577836800


def schedule_seeds():
    def s(start, zone, rrule=None, exdates=None, now=None, preview=None):
        lines = [f"DTSTART;TZID={zone}:{start}"]
        if rrule is not None:
            lines.append(f"RRULE:{rrule}")
        if exdates:
            lines.append("EXDATE:" + ",".join(exdates))
        if now is not None:
            lines.append(f"NOW:{now}")
        if preview is not None:
            lines.append(f"PREVIEW:{preview}")
        return ("\n".join(lines) + "\n").encode()

    return {
        "daily_london": s("20240101T200000", "Europe/London", "FREQ=DAILY"),
        "ny_spring_gap_count": s("20240301T023000", "America/New_York", "FREQ=DAILY;COUNT=20",
                                 now="20240101T000000Z", preview=25),
        "ny_fall_overlap_until": s("20241101T013000", "America/New_York",
                                   "FREQ=DAILY;UNTIL=20241110T000000Z", now="20241015T000000Z"),
        "london_gap_weekly": s("20240324T013000", "Europe/London",
                               "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1,2;BYMINUTE=30", now="20240301T000000Z"),
        "sydney_last_friday": s("20240105T190000", "Australia/Sydney",
                                "FREQ=MONTHLY;BYDAY=-1FR;COUNT=12"),
        "lord_howe_half_hour_dst": s("20240401T021500", "Australia/Lord_Howe",
                                     "FREQ=DAILY;BYHOUR=1,2;BYMINUTE=15,45", now="20240301T000000Z"),
        "apia_skipped_day": s("20111228T090000", "Pacific/Apia", "FREQ=DAILY;COUNT=5",
                              now="20111201T000000Z"),
        "kolkata_every_third_day": s("20240110T080000", "Asia/Kolkata",
                                     "FREQ=DAILY;INTERVAL=3;BYHOUR=8,20"),
        "feb29_yearly": s("20240229T090000", "Europe/Berlin", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
        "exdates": s("20240102T070000", "UTC", "FREQ=DAILY;COUNT=10",
                     exdates=["20240103T070000", "20240105T070000", "20240102T070000"]),
        "single_occurrence": s("20250101T090000", "America/Los_Angeles"),
        "last_weekday_of_month": s("20240131T170000", "Europe/Paris",
                                   "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
        "biweekly_wkst_su": s("20240108T180000", "America/Chicago",
                              "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,WE;WKST=SU"),
        "until_date": s("20240110T090000", "Europe/Dublin", "FREQ=DAILY;UNTIL=20241231"),
        "lowercase_prefix": s("20240110T090000", "Europe/London", "rrule:freq=weekly;byday=mo,we,fr"),
        "yearly_20th_monday": s("20240101T090000", "Asia/Tokyo", "FREQ=YEARLY;BYDAY=20MO"),
        "bad_interval7_other_weekday": s("20240101T090000", "Europe/Madrid", "FREQ=DAILY;INTERVAL=7;BYDAY=TU"),
        "far_future_now": s("20240101T090000", "UTC", "FREQ=YEARLY", now="25000101T000000Z"),
        "generic_integers": s("2024 2 29 7 30 0", "Europe/London", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        # Refused on purpose (rrule.h, schedule.h).
        "bad_hourly": s("20240101T090000", "UTC", "FREQ=HOURLY"),
        "bad_never_matches": s("20240101T090000", "UTC", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
        "bad_too_close": s("20240101T090000", "UTC", "FREQ=DAILY;BYMINUTE=0,10"),
        "bad_zone": s("20240101T090000", "Mars/Olympus_Mons", "FREQ=DAILY"),
        "bad_zone_path": s("20240101T090000", "../../etc/passwd", "FREQ=DAILY"),
        "bad_start": s("20240230T250000", "UTC", "FREQ=DAILY"),
        "bad_count_and_until": s("20240101T090000", "UTC", "FREQ=DAILY;COUNT=5;UNTIL=20250101T000000Z"),
        "bad_until_past": s("20200101T090000", "UTC", "FREQ=DAILY;UNTIL=20200105", now="20240101T000000Z"),
        "bad_unknown_part": s("20240101T090000", "UTC", "FREQ=DAILY;BYSECOND=5;X-TRELLIS=1"),
        "bad_bysetpos_both_ends": s("20240101T090000", "UTC",
                                    "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1"),
    }


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def token(header, payload, secret=JWT_SECRET, signature=None):
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = h + b"." + p
    if signature is None:
        signature = b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return signing_input + b"." + signature


def jwt_seeds():
    hs = {"alg": "HS256", "typ": "JWT"}

    def claims(**overrides):
        c = {"iss": "trellis", "aud": "trellis", "sub": "u1", "tenant": "t1", "role": "clinician",
             "iat": 1700000000, "exp": EXP_2100}
        c.update(overrides)
        return {k: v for k, v in c.items() if v is not None}

    raw = {
        "clinician": token(hs, claims()),
        "client": token(hs, claims(role="client", patient="p1")),
        "service": token(hs, claims(role="service", sub="trellis-reminders")),
        "admin": token(hs, claims(role="admin")),
        "expired": token(hs, claims(exp=EXP_2020)),
        "not_yet_valid": token(hs, claims(nbf=EXP_2100 - 10)),
        "wrong_secret": token(hs, claims(), secret=b"another-secret-of-at-least-32-bytes!"),
        "wrong_audience": token(hs, claims(aud="other")),
        "wrong_issuer": token(hs, claims(iss="other")),
        "no_exp": token(hs, claims(exp=None)),
        "unknown_role": token(hs, claims(role="root")),
        "client_without_patient": token(hs, claims(role="client")),
        "bad_tenant": token(hs, claims(tenant="t1:{x}")),
        "alg_none": token({"alg": "none", "typ": "JWT"}, claims(), signature=b""),
        "alg_rs256": token({"alg": "RS256", "typ": "JWT", "kid": "k1"}, claims()),
        "two_parts": b"eyJhbGciOiJIUzI1NiJ9.e30",
        "empty_parts": b"..",
    }
    seeds = {f"raw_{name}": b"R" + value for name, value in raw.items()}

    def signed(header, payload):
        return b"S" + header.encode() + b"\n" + payload.encode()

    good = json.dumps(claims(), separators=(",", ":"))
    seeds.update({
        "signed_clinician": signed('{"alg":"HS256","typ":"JWT"}', good),
        "signed_client": signed('{"alg":"HS256"}', json.dumps(claims(role="client", patient="p1"))),
        "signed_exp_string": signed('{"alg":"HS256"}', good.replace(str(EXP_2100), '"4102444800"')),
        "signed_exp_negative": signed('{"alg":"HS256"}', good.replace(str(EXP_2100), "-1")),
        "signed_role_number": signed('{"alg":"HS256"}', good.replace('"clinician"', "1")),
        "signed_duplicate_claims": signed('{"alg":"HS256"}', good[:-1] + ',"sub":"u2"}'),
        "signed_unicode_escapes": signed('{"alg":"HS256","typ":"jwt"}',
                                         good.replace('"u1"', '"\\u00e9\\ud83d\\ude00"')),
        "signed_typ_mismatch": signed('{"alg":"HS256","typ":"JWS"}', good),
        "signed_not_json": signed('{"alg":"HS256"}', "{\"exp\":"),
    })
    return seeds


def questionnaire_seeds():
    def q(instrument, answers, **settings):
        lines = [f"instrument={instrument}"]
        lines += [f"{k}={v}" for k, v in settings.items()]
        lines += [f"{item}={value}" for item, value in answers]
        return ("\n".join(lines) + "\n").encode()

    phq9 = lambda values: list(zip(range(1, 10), values))
    gad7 = lambda values: list(zip(range(1, 8), values))
    return {
        "phq9_minimal": q("phq9", phq9([0] * 9)),
        "phq9_severe": q("phq9", phq9([3] * 9), previous=5),
        "phq9_item9_flag": q("phq9", phq9([1, 0, 1, 0, 0, 0, 1, 0, 1])),
        "phq9_with_item10": q("phq9", phq9([2] * 9) + [(10, 1)]),
        "phq9_shuffled": q("phq9", list(reversed(phq9([1, 2, 3, 0, 1, 2, 3, 0, 0])))),
        "phq9_prorated": q("phq9", phq9([2, 3, 1, 0, 2, 1, 3])[:7] + [(9, 0)], proration=1,
                           phq9_max_missing=2),
        "phq9_missing_no_proration": q("phq9", phq9([1] * 8)),
        "phq9_missing_safety_item": q("phq9", phq9([1] * 8), proration=1),
        "phq9_duplicate_item": q("phq9", phq9([0] * 9) + [(3, 2)]),
        "phq9_value_out_of_range": q("phq9", phq9([0, 4, -1, 0, 0, 0, 0, 0, 0])),
        "phq9_extreme_ints": q("phq9", [(2147483647, -2147483648), (-2147483648, 2147483647)]),
        "gad7_moderate": q("gad7", gad7([2, 2, 1, 1, 2, 1, 2]), previous=17),
        "gad7_prorated": q("gad7", gad7([3, 3, 3, 3, 3, 3]), proration=1, gad7_max_missing=1),
        "gad7_too_many_answers": q("gad7", gad7([0] * 7) + [(8, 0)]),
        "mood_not_a_questionnaire": q("mood", [(1, 5)]),
        "unknown_instrument": q("bdi-ii", [(1, 1)]),
        "bad_instrument_id": q("phq9/../x", [(1, 1)]),
        "invalid_config": q("phq9", phq9([0] * 9), proration=1, phq9_max_missing=9),
    }


def request_seeds(py_dir):
    sys.path.insert(0, py_dir)
    from google.protobuf import duration_pb2  # noqa: F401  (imported by the stubs)
    from trellis.v1 import common_pb2, goals_pb2, measurements_pb2, reminders_pb2

    # Indices of kMessages in fuzz/request_fuzz.cc.
    (CREATE_GOAL, UPDATE_GOAL, GET_GOAL, LIST_GOALS, TRANSITION_GOAL, LIST_REVISIONS,
     EVALUATE_SMART, RATE_ATTAINMENT, ATTAINMENT_SCORE, EXPORT_FHIR, SET_ACHIEVEMENT, GOAL,
     RECORD_MEASUREMENT, SUBMIT_QUESTIONNAIRE, DEFINE_METRIC, UPDATE_SETTINGS, CREATE_REMINDER,
     UPDATE_REMINDER, PREVIEW_SCHEDULE, RECORD_COMPLETION, ACK_DELIVERIES) = range(21)

    def goal(**overrides):
        g = goals_pb2.Goal(
            patient="p1", title="Reduce PHQ-9 below 10 by September",
            description="Weekly behavioural activation; review every four weeks.",
            category=goals_pb2.GOAL_CATEGORY_SYMPTOM_MANAGEMENT,
            priority=goals_pb2.GOAL_PRIORITY_HIGH,
            measure=common_pb2.Measure(metric="phq9", direction=common_pb2.MEASURE_DIRECTION_DECREASE,
                                       baseline=18, target=9),
            start_date=common_pb2.LocalDate(year=2024, month=6, day=1),
            due_date=common_pb2.LocalDate(year=2024, month=9, day=30),
            addresses=[goals_pb2.Concern(text="low mood"),
                       goals_pb2.Concern(code=common_pb2.Coding(
                           system="http://snomed.info/sct", code="35489007",
                           display="Depressive disorder"))])
        for k, v in overrides.items():
            if isinstance(v, dict):
                getattr(g, k).CopyFrom(type(getattr(g, k))(**v))
            elif isinstance(v, list):
                getattr(g, k).extend(v)
            else:
                setattr(g, k, v)
        return g

    def schedule(rrule="FREQ=DAILY;BYHOUR=20", zone="Europe/London", start=(2024, 6, 11, 20, 0, 0),
                 exdates=()):
        lt = lambda t: common_pb2.LocalDateTime(year=t[0], month=t[1], day=t[2], hours=t[3],
                                                minutes=t[4], seconds=t[5])
        return reminders_pb2.Schedule(start=lt(start), time_zone=zone, rrule=rrule,
                                      exdates=[lt(e) for e in exdates])

    stored = goal(name="patients/p1/goals/g1", lifecycle_status=goals_pb2.GOAL_LIFECYCLE_STATUS_ACTIVE,
                  objectives=["patients/p1/goals/g2"], revision=3, etag="r3",
                  needs_review=True, needs_review_reason="no reliable improvement in 6 weeks")
    stored.latest_attainment.CopyFrom(goals_pb2.AttainmentRating(
        name="patients/p1/goals/g1/attainments/a1", goal="patients/p1/goals/g1", rating=1,
        review_date=common_pb2.LocalDate(year=2024, month=6, day=1), weight=2.5, note="better"))
    stored.status_time.FromSeconds(1717000000)
    stored.update_time.FromSeconds(1717000000)

    msgs = {
        "create_goal": (CREATE_GOAL, goals_pb2.CreateGoalRequest(goal=goal(), request_id="req-1")),
        "create_goal_range": (CREATE_GOAL, goals_pb2.CreateGoalRequest(goal=goal(
            measure={"metric": "mood", "direction": common_pb2.MEASURE_DIRECTION_REACH_RANGE,
                     "target_low": 6, "target_high": 8}))),
        "create_goal_other_patients_parent": (CREATE_GOAL, goals_pb2.CreateGoalRequest(goal=goal(
            parent="patients/p2/goals/g9", title="  "))),
        "update_goal_title": (UPDATE_GOAL, goals_pb2.UpdateGoalRequest(
            goal=goal(name="patients/p1/goals/g1", title="Reduce PHQ-9 below 8"), etag="r3",
            reason="reviewed in session", update_mask={"paths": ["title", "measure.target"]})),
        "update_goal_bad_mask": (UPDATE_GOAL, goals_pb2.UpdateGoalRequest(
            goal=goal(name="patients/p1/goals/g1"), etag="r3",
            update_mask={"paths": ["*", "patient", "due_date.year", "measure.direction"]})),
        "get_goal": (GET_GOAL, goals_pb2.GetGoalRequest(name="patients/p1/goals/g1")),
        "list_goals": (LIST_GOALS, goals_pb2.ListGoalsRequest(
            patient="p1", lifecycle_statuses=[4, 1, 4], category=1, needs_review=True,
            page_size=1000, page_token="abc")),
        "transition_goal": (TRANSITION_GOAL, goals_pb2.TransitionGoalRequest(
            name="patients/p1/goals/g1", lifecycle_status=goals_pb2.GOAL_LIFECYCLE_STATUS_COMPLETED,
            reason="target reached", etag="r3", open_objectives=2, request_id="t1")),
        "list_revisions": (LIST_REVISIONS, goals_pb2.ListGoalRevisionsRequest(
            name="patients/p1/goals/g1", page_size=-1)),
        "evaluate_smart": (EVALUATE_SMART, goals_pb2.EvaluateSmartRequest(goal=goal(
            title="try to feel better eventually", due_date={"year": 2031, "month": 1, "day": 1}))),
        "rate_attainment": (RATE_ATTAINMENT, goals_pb2.RateGoalAttainmentRequest(
            name="patients/p1/goals/g1", rating=2, review_date=common_pb2.LocalDate(
                year=2024, month=6, day=10), weight=100, note="much better")),
        "attainment_score": (ATTAINMENT_SCORE, goals_pb2.GetAttainmentScoreRequest(
            patient="p1", weights={"patients/p1/goals/g1": 2.0, "patients/p1/goals/g2": 0.5},
            rho=0.3, goals=["patients/p1/goals/g1"])),
        "export_fhir": (EXPORT_FHIR, goals_pb2.ExportGoalsFhirRequest(
            patient="p1", lifecycle_statuses=[1, 4, 6])),
        "set_achievement": (SET_ACHIEVEMENT, goals_pb2.SetAchievementStatusRequest(
            name="patients/p1/goals/g1", achievement_status=2, needs_review=False,
            evaluate_time={"seconds": 1717000000}, reason="PHQ-9 improved", request_id="m-1")),
        "stored_goal": (GOAL, stored),
        "record_mood": (RECORD_MEASUREMENT, measurements_pb2.RecordMeasurementRequest(
            measurement=measurements_pb2.Measurement(
                patient="p1", metric="mood", value=7, observe_time={"seconds": 1717990000},
                note="after a walk", goal="patients/p1/goals/g1"), request_id="r-1")),
        "record_sleep_hours": (RECORD_MEASUREMENT, measurements_pb2.RecordMeasurementRequest(
            measurement=measurements_pb2.Measurement(patient="p1", metric="sleep_hours", value=7.5,
                                                     source=3))),
        "record_yes_no_nan": (RECORD_MEASUREMENT, measurements_pb2.RecordMeasurementRequest(
            measurement=measurements_pb2.Measurement(patient="p1", metric="exercised",
                                                     value=float("nan")))),
        "submit_phq9": (SUBMIT_QUESTIONNAIRE, measurements_pb2.SubmitQuestionnaireRequest(
            patient="p1", instrument="phq9",
            answers=[measurements_pb2.ItemAnswer(item=i, value=i % 4) for i in range(1, 11)],
            observe_time={"seconds": 1717990000}, source=1, note="weekly check-in")),
        "define_metric": (DEFINE_METRIC, measurements_pb2.DefineMetricRequest(
            metric=measurements_pb2.Metric(
                id="panic_attacks", display_name="Panic attacks", kind=3, unit="{count}",
                min_value=0, max_value=50, better_direction=1, period=2, integer_values=True,
                reliable_change_threshold=3), request_id="d-1")),
        "update_settings": (UPDATE_SETTINGS, measurements_pb2.UpdateMeasurementSettingsRequest(
            settings=measurements_pb2.MeasurementSettings(
                proration_enabled=True, phq9_max_missing_items=2, gad7_max_missing_items=1),
            update_mask={"paths": ["proration_enabled", "phq9_max_missing_items"]}, etag="r0")),
        "create_reminder": (CREATE_REMINDER, reminders_pb2.CreateReminderRequest(
            reminder=reminders_pb2.Reminder(
                patient="p1", kind=2, text="Breathing exercise", metric="breathing_minutes",
                schedule=schedule(exdates=[(2024, 6, 12, 20, 0, 0)])), request_id="c-1")),
        "create_reminder_dst": (CREATE_REMINDER, reminders_pb2.CreateReminderRequest(
            reminder=reminders_pb2.Reminder(patient="p1", kind=3, instrument="phq9",
                                            text="PHQ-9 check-in", schedule=schedule(
                                                "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU;BYHOUR=1;BYMINUTE=30",
                                                zone="Europe/London", start=(2024, 10, 20, 1, 30, 0)))
        )),
        "update_reminder": (UPDATE_REMINDER, reminders_pb2.UpdateReminderRequest(
            reminder=reminders_pb2.Reminder(name="patients/p1/reminders/r1", schedule=schedule(
                "FREQ=MONTHLY;BYDAY=-1FR;COUNT=6", zone="America/New_York")),
            update_mask={"paths": ["schedule"]}, etag="r2")),
        "preview_schedule": (PREVIEW_SCHEDULE, reminders_pb2.PreviewScheduleRequest(
            schedule=schedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", zone="America/New_York",
                              start=(2025, 3, 1, 2, 30, 0)), count=20,
            start_time={"seconds": 1741500000})),
        "preview_schedule_bad": (PREVIEW_SCHEDULE, reminders_pb2.PreviewScheduleRequest(
            schedule=schedule("FREQ=SECONDLY", zone="Nowhere/City", start=(2024, 2, 30, 24, 0, 0)),
            count=501)),
        "record_completion_snooze": (RECORD_COMPLETION, reminders_pb2.RecordCompletionRequest(
            reminder="patients/p1/reminders/r1",
            occurrence_id="patients/p1/reminders/r1/occurrences/20240610T190000Z", outcome=3,
            snooze_duration={"seconds": 900})),
        "record_completion_bad": (RECORD_COMPLETION, reminders_pb2.RecordCompletionRequest(
            occurrence_id="patients/p1/reminders/r1/occurrences/20240231T250000Z", outcome=3,
            snooze_duration={"seconds": -1, "nanos": 5})),
        "ack_deliveries": (ACK_DELIVERIES, reminders_pb2.AckDeliveriesRequest(
            subscriber="app-1", delivery_ids=[
                "patients/p1/reminders/r1/occurrences/20240610T190000Z",
                "patients/p1/reminders/r1/occurrences/20240610T190000Z/snooze",
                "patients/p1/reminders/r1/occurrences/20240610T190000Z/snooze/snooze", ""])),
    }
    seeds = {}
    for name, (index, message) in msgs.items():
        data = message.SerializeToString()
        seeds[name] = bytes([index]) + data
    return seeds


def write(target, seeds):
    out = os.path.join(FUZZ_DIR, "corpus", target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seeds)} seeds")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py", default=os.path.join(FUZZ_DIR, "..", "build", "py"),
                        help="directory of the generated Python stubs (default: build/py)")
    args = parser.parse_args()
    write("schedule", schedule_seeds())
    write("jwt", jwt_seeds())
    write("questionnaire", questionnaire_seeds())
    write("request", request_seeds(os.path.abspath(args.py)))


if __name__ == "__main__":
    main()
