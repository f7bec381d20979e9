"""Mutual TLS end to end, with real binaries: a client with a certificate reaches health and the
API with a real token, a plaintext client is refused, and services call each other over mutual TLS
(ReminderService reads the goal a reminder is for from GoalService)."""
import unittest

import grpc

from harness import Pki, ServicesTestCase, auth, free_port, practice_reminder, token
from health.v1 import health_pb2, health_pb2_grpc
from trellis.v1 import goals_pb2 as G, goals_pb2_grpc
from trellis.v1 import reminders_pb2 as R, reminders_pb2_grpc


class TlsTest(ServicesTestCase):
    def setUp(self):
        super().setUp()
        self.pki = Pki(self.workdir)

    def start_tls(self, name, extra=(), port=0):
        """Starts `name` serving mutual TLS; its channel presents the test certificate."""
        return self.start(name, [*self.pki.mutual_tls_args(), *extra], port=port,
                          credentials=self.pki.client_credentials())

    def test_health_calls_and_peer_calls_over_mutual_tls(self):
        goals_port = free_port()
        goals = self.start_tls("goals", port=goals_port)
        reminders = self.start_tls("reminders", [f"--goals_addr=127.0.0.1:{goals_port}"])

        md = auth(token(role="clinician"))
        goal = goals_pb2_grpc.GoalServiceStub(goals.channel).CreateGoal(G.CreateGoalRequest(
            goal=G.Goal(patient="p1", title="Practise breathing exercises for 15 minutes daily")),
            metadata=md, timeout=10)
        self.assertTrue(goal.name)

        # CreateReminder looks the goal up in GoalService: a peer call over mutual TLS.
        reminder = reminders_pb2_grpc.ReminderServiceStub(reminders.channel).CreateReminder(
            R.CreateReminderRequest(reminder=practice_reminder(goal.name)), metadata=md,
            timeout=10)
        self.assertEqual(reminder.state, R.REMINDER_STATE_ACTIVE)

        # A plaintext client, or one without a client certificate, is refused at the handshake.
        with open(self.pki.ca, "rb") as f:
            roots_only = grpc.ssl_channel_credentials(root_certificates=f.read())
        for channel in (grpc.insecure_channel(goals.address),
                        grpc.secure_channel(goals.address, roots_only)):
            with channel:
                with self.assertRaises(grpc.RpcError) as refused:
                    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                              timeout=5)
                self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()
