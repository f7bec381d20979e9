"""Cross-service effect end to end, with real binaries: closing a goal ends its reminders, and a
reminder-service outage at that moment only delays it (the goal service's outbox keeps it)."""
import datetime
import signal
import unittest

from harness import Redis, Service, auth, free_port, token, wait_until
from trellis.v1 import common_pb2, goals_pb2 as G, goals_pb2_grpc
from trellis.v1 import reminders_pb2 as R, reminders_pb2_grpc

import shutil
import tempfile


class CrossServiceTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="trellis-e2e-")
        self.redis = Redis(self.workdir)
        self.reminders_port = free_port()
        self.services = []

    def tearDown(self):
        for s in self.services:
            s.kill()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, name, extra=(), port=0):
        svc = Service(name, self.workdir, self.redis.url, extra, port=port)
        self.services.append(svc)
        self.assertEqual(svc.wait_health("SERVING"), "SERVING")
        return svc

    def test_closing_a_goal_ends_its_reminders_even_across_a_reminder_outage(self):
        reminders = self.start("reminders", port=self.reminders_port)
        goals = self.start("goals", [f"--reminders_addr=127.0.0.1:{self.reminders_port}"])
        md = auth(token(role="clinician"))
        goal_stub = goals_pb2_grpc.GoalServiceStub(goals.channel)
        goal = goal_stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
            patient="p1", title="Practise breathing exercises for 15 minutes daily")),
            metadata=md, timeout=10)

        tomorrow = datetime.date.today() + datetime.timedelta(days=1)
        reminder = reminders_pb2_grpc.ReminderServiceStub(reminders.channel).CreateReminder(
            R.CreateReminderRequest(reminder=R.Reminder(
                patient="p1", goal=goal.name, kind=R.REMINDER_KIND_PRACTICE,
                text="Breathing practice", schedule=R.Schedule(
                    start=common_pb2.LocalDateTime(year=tomorrow.year, month=tomorrow.month,
                                                   day=tomorrow.day, hours=20),
                    time_zone="Europe/London", rrule="FREQ=DAILY"))),
            metadata=md, timeout=10)
        self.assertEqual(reminder.state, R.REMINDER_STATE_ACTIVE)

        # The reminder service goes away; the goal is closed meanwhile.
        self.assertEqual(reminders.stop(signal.SIGTERM), 0)
        closed = goal_stub.TransitionGoal(G.TransitionGoalRequest(
            name=goal.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_REJECTED,
            reason="not a priority now", etag=goal.etag), metadata=md, timeout=10)
        self.assertEqual(closed.goal.lifecycle_status, G.GOAL_LIFECYCLE_STATUS_REJECTED)

        # It comes back on the same address: the relay delivers, the reminder ends.
        reminders = self.start("reminders", port=self.reminders_port)
        stub = reminders_pb2_grpc.ReminderServiceStub(reminders.channel)

        def ended():
            r = stub.GetReminder(R.GetReminderRequest(name=reminder.name), metadata=md,
                                 timeout=5)
            return r.state == R.REMINDER_STATE_ENDED and r

        final = wait_until(ended, limit=30, step=0.2)
        self.assertTrue(final, "the reminder did not end after the reminder service returned")
        self.assertEqual(final.end_reason, R.REMINDER_END_REASON_GOAL_CLOSED)


if __name__ == "__main__":
    unittest.main()
