"""End-to-end progress scenario from Python against the real trellis-goals and
trellis-measurements binaries: a client at PHQ-9 18 at intake records weekly scores falling to 9
over 10 weeks (reliable improvement, response, on track); a second goal, GAD-7 flat for 6 weeks,
turns stalled and the goal itself shows needs-review (written back through the outbox)."""
import datetime
import unittest

from google.protobuf import timestamp_pb2

from harness import ServicesTestCase, auth, token, wait_until
from trellis.v1 import common_pb2, goals_pb2 as G, goals_pb2_grpc
from trellis.v1 import measurements_pb2 as M, measurements_pb2_grpc


# Item answers (9 PHQ-9 items, 0-3) giving each weekly total, from intake (18) down to 9.
PHQ9_TOTALS = [18, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9]


def phq9_answers(total):
    values = [0] * 9
    for i in range(total):
        values[i % 8] += 1  # item 9 (self-harm) stays 0 here
    return [M.ItemAnswer(item=i + 1, value=v) for i, v in enumerate(values)]


def gad7_answers(total):
    values = [0] * 7
    for i in range(total):
        values[i % 7] += 1
    return [M.ItemAnswer(item=i + 1, value=v) for i, v in enumerate(values)]


def local_date(d):
    return common_pb2.LocalDate(year=d.year, month=d.month, day=d.day)


def ts(dt):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(dt)
    return t


class ProgressScenarioTest(ServicesTestCase):
    def test_weekly_phq9_shows_reliable_improvement_and_a_flat_gad7_goal_needs_review(self):
        goals = self.start("goals")
        meas = self.start("measurements", [f"--goals_addr={goals.address}"])
        md = auth(token(role="clinician"))
        goal_stub = goals_pb2_grpc.GoalServiceStub(goals.channel)
        meas_stub = measurements_pb2_grpc.MeasurementServiceStub(meas.channel)

        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        intake = now - datetime.timedelta(weeks=10, hours=1)

        def make_goal(title, metric, baseline, target, start):
            goal = goal_stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
                patient="p7", title=title,
                description="Weekly behavioural activation with a therapist-guided plan",
                category=G.GOAL_CATEGORY_SYMPTOM_MANAGEMENT,
                measure=common_pb2.Measure(metric=metric,
                                           direction=common_pb2.MEASURE_DIRECTION_DECREASE,
                                           baseline=baseline, target=target),
                start_date=local_date(start.date()),
                due_date=local_date((now + datetime.timedelta(weeks=6)).date()),
                addresses=[G.Concern(text="low mood and worry")],
                lifecycle_status=G.GOAL_LIFECYCLE_STATUS_ACTIVE)), metadata=md, timeout=10)
            return goal

        depression = make_goal("Reduce PHQ-9 score from 18 to 5", "phq9", 18, 5, intake)
        worry_start = now - datetime.timedelta(weeks=6, hours=1)
        worry = make_goal("Reduce GAD-7 score from 12 to 6", "gad7", 12, 6, worry_start)

        for week, total in enumerate(PHQ9_TOTALS):
            meas_stub.SubmitQuestionnaire(M.SubmitQuestionnaireRequest(
                patient="p7", instrument="phq9", answers=phq9_answers(total),
                observe_time=ts(intake + datetime.timedelta(weeks=week)),
                source=M.MEASUREMENT_SOURCE_CLIENT, goal=depression.name,
                request_id=f"phq9-week-{week}"), metadata=md, timeout=10)
        for week in range(7):
            meas_stub.SubmitQuestionnaire(M.SubmitQuestionnaireRequest(
                patient="p7", instrument="gad7", answers=gad7_answers(12),
                observe_time=ts(worry_start + datetime.timedelta(weeks=week)),
                source=M.MEASUREMENT_SOURCE_CLIENT, goal=worry.name,
                request_id=f"gad7-week-{week}"), metadata=md, timeout=10)

        progress = meas_stub.GetGoalProgress(M.GetGoalProgressRequest(goal=depression.name),
                                             metadata=md, timeout=10)
        self.assertEqual(progress.reliable_change, M.RELIABLE_CHANGE_IMPROVED)
        self.assertTrue(progress.response)
        self.assertTrue(progress.on_track)
        self.assertFalse(progress.stalled)
        self.assertEqual(progress.suggested_achievement_status,
                         G.GOAL_ACHIEVEMENT_STATUS_IMPROVING)

        flat = meas_stub.GetGoalProgress(M.GetGoalProgressRequest(goal=worry.name),
                                         metadata=md, timeout=10)
        self.assertTrue(flat.stalled)
        self.assertEqual(flat.suggested_achievement_status, G.GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS)

        # The write-back reaches the goal through the measurement service's outbox relay.
        def flagged():
            g = goal_stub.GetGoal(G.GetGoalRequest(name=worry.name), metadata=md, timeout=5)
            return g.needs_review and g
        goal = wait_until(flagged, limit=30, step=0.2)
        self.assertTrue(goal, "the stalled goal was not marked needs-review")
        self.assertEqual(goal.achievement_status, G.GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS)

        summary = meas_stub.GetPatientSummary(M.GetPatientSummaryRequest(patient="p7"),
                                              metadata=md, timeout=10)
        self.assertIn(worry.name, list(summary.goals_needing_review))


if __name__ == "__main__":
    unittest.main()
