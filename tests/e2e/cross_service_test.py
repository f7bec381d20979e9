"""Cross-service effect end to end, with real binaries: closing a goal ends its reminders, and a
reminder-service outage at that moment only delays it (the goal service's outbox keeps it)."""
import datetime
import signal
import unittest

import grpc

from harness import ServicesTestCase, auth, free_port, practice_reminder, token, wait_until
from trellis.v1 import common_pb2, goals_pb2 as G, goals_pb2_grpc
from trellis.v1 import measurements_pb2 as M, measurements_pb2_grpc
from trellis.v1 import reminders_pb2 as R, reminders_pb2_grpc



class CrossServiceTest(ServicesTestCase):
    def setUp(self):
        super().setUp()
        self.reminders_port = free_port()

    def test_closing_a_goal_ends_its_reminders_even_across_a_reminder_outage(self):
        goals_port = free_port()
        reminders = self.start("reminders", [f"--goals_addr=127.0.0.1:{goals_port}"],
                               port=self.reminders_port)
        goals = self.start("goals", [f"--reminders_addr=127.0.0.1:{self.reminders_port}"],
                           port=goals_port)
        md = auth(token(role="clinician"))
        goal_stub = goals_pb2_grpc.GoalServiceStub(goals.channel)
        goal = goal_stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
            patient="p1", title="Practise breathing exercises for 15 minutes daily")),
            metadata=md, timeout=10)

        reminder = reminders_pb2_grpc.ReminderServiceStub(reminders.channel).CreateReminder(
            R.CreateReminderRequest(reminder=practice_reminder(goal.name)), metadata=md,
            timeout=10)
        self.assertEqual(reminder.state, R.REMINDER_STATE_ACTIVE)

        # The reminder service goes away; the goal is closed meanwhile.
        self.assertEqual(reminders.stop(signal.SIGTERM), 0)
        closed = goal_stub.TransitionGoal(G.TransitionGoalRequest(
            name=goal.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_REJECTED,
            reason="not a priority now", etag=goal.etag), metadata=md, timeout=10)
        self.assertEqual(closed.goal.lifecycle_status, G.GOAL_LIFECYCLE_STATUS_REJECTED)

        # It comes back on the same address: the relay delivers, the reminder ends.
        reminders = self.start("reminders", [f"--goals_addr=127.0.0.1:{goals_port}"],
                               port=self.reminders_port)
        stub = reminders_pb2_grpc.ReminderServiceStub(reminders.channel)

        def ended():
            r = stub.GetReminder(R.GetReminderRequest(name=reminder.name), metadata=md,
                                 timeout=5)
            return r.state == R.REMINDER_STATE_ENDED and r

        final = wait_until(ended, limit=30, step=0.2)
        self.assertTrue(final, "the reminder did not end after the reminder service returned")
        self.assertEqual(final.end_reason, R.REMINDER_END_REASON_GOAL_CLOSED)

    def test_a_reminder_needs_an_open_goal_and_a_known_metric_and_reports_practice(self):
        goals_port, measurements_port = free_port(), free_port()
        peers = [f"--goals_addr=127.0.0.1:{goals_port}",
                 f"--measurements_addr=127.0.0.1:{measurements_port}"]
        self.start("goals", peers, port=goals_port)
        measurements = self.start("measurements", peers, port=measurements_port)
        reminders = self.start("reminders", peers)
        md = auth(token(role="clinician"))
        goal_stub = goals_pb2_grpc.GoalServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{goals_port}"))
        stub = reminders_pb2_grpc.ReminderServiceStub(reminders.channel)
        meas = measurements_pb2_grpc.MeasurementServiceStub(measurements.channel)
        goal = goal_stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
            patient="p1", title="Practise breathing exercises for 15 minutes daily")),
            metadata=md, timeout=10)
        soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=30)
        start = common_pb2.LocalDateTime(year=soon.year, month=soon.month, day=soon.day,
                                         hours=soon.hour, minutes=soon.minute)

        def create(**fields):
            return stub.CreateReminder(R.CreateReminderRequest(reminder=R.Reminder(
                patient="p1", kind=R.REMINDER_KIND_PRACTICE, text="Breathing practice",
                schedule=R.Schedule(start=start, time_zone="UTC", rrule="FREQ=DAILY"),
                **fields)), metadata=md, timeout=10)

        with self.assertRaises(grpc.RpcError) as unknown_metric:
            create(goal=goal.name, metric="minutes_practised")
        self.assertEqual(unknown_metric.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("reminder.metric", unknown_metric.exception.details())
        with self.assertRaises(grpc.RpcError) as no_goal:
            create(goal="patients/p1/goals/nope")
        self.assertEqual(no_goal.exception.code(), grpc.StatusCode.NOT_FOUND)

        meas.DefineMetric(M.DefineMetricRequest(metric=M.Metric(
            id="minutes_practised", display_name="Minutes of breathing practice",
            kind=M.METRIC_KIND_DURATION_MINUTES, min_value=0, max_value=600,
            better_direction=M.BETTER_DIRECTION_HIGHER)), metadata=md, timeout=10)
        reminder = create(goal=goal.name, metric="minutes_practised")

        # Done early (allowed from 24 h before), with the minutes practised: the value reaches
        # MeasurementService through the reminder service's outbox.
        client = auth(token(role="client", sub="p1", patient="p1"))
        stub.RecordCompletion(R.RecordCompletionRequest(
            reminder=reminder.name,
            occurrence_id=reminder.name + "/occurrences/" + soon.strftime("%Y%m%dT%H%M00Z"),
            outcome=R.COMPLETION_OUTCOME_DONE, value=12), metadata=client, timeout=10)

        def recorded():
            got = meas.ListMeasurements(M.ListMeasurementsRequest(
                patient="p1", metric="minutes_practised"), metadata=md, timeout=5)
            return list(got.measurements)
        got = wait_until(recorded, limit=20, step=0.2)
        self.assertTrue(got, "the practice minutes were not recorded")
        self.assertEqual(got[0].value, 12)
        self.assertEqual(got[0].source, M.MEASUREMENT_SOURCE_CLIENT)

        goal_stub.TransitionGoal(G.TransitionGoalRequest(
            name=goal.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_REJECTED,
            reason="not a priority now", etag=goal.etag), metadata=md, timeout=10)
        with self.assertRaises(grpc.RpcError) as closed:
            create(goal=goal.name)
        self.assertEqual(closed.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)


if __name__ == "__main__":
    unittest.main()
