"""Reminder dispatch end to end with real binaries: two trellis-reminders replicas share one Redis,
1 000 reminders come due at the same instant, one replica is killed (SIGKILL) in the middle of
dispatching them while a Python subscriber is streaming from it, and the subscriber, reconnecting
to the survivor, still receives every occurrence; nothing it acknowledged ever comes again."""
import datetime
import threading
import time
import unittest

import grpc

from harness import ServicesTestCase, auth, token, wait_until
from trellis.v1 import common_pb2, reminders_pb2 as R, reminders_pb2_grpc

REMINDERS = 1000
BUCKETS = 16
# Small claims on one thread make the dispatch take long enough to be interrupted (a few hundred
# milliseconds); short timeouts keep the test quick: a killed replica's claims return after 2 s,
# unacknowledged deliveries after 3 s.
REPLICA_FLAGS = ["--dispatch_lease=2s", "--visibility_timeout=3s", "--dispatch_batch=5",
                 "--dispatch_threads=1", "--dispatch_interval=50ms",
                 "--stream_poll_interval=20ms"]


class Subscriber(threading.Thread):
    """Streams deliveries (first from `first`, after a failure from `fallback`), acknowledges each
    one on the fallback replica, and records what came when."""

    def __init__(self, first, fallback, metadata, want):
        super().__init__(daemon=True)
        self.targets = [first, fallback]
        self.ack_stub = reminders_pb2_grpc.ReminderServiceStub(fallback.channel)
        self.metadata = metadata
        self.want = want
        self.received = {}   # delivery_id -> times received
        self.acked = set()
        self.after_ack = []  # deliveries received again after their acknowledgement
        self.reconnects = 0
        self.errors = []
        self.done = threading.Event()
        self.deadline = time.monotonic() + 90

    def run(self):
        target = 0
        while len(self.acked) < self.want and time.monotonic() < self.deadline:
            stub = reminders_pb2_grpc.ReminderServiceStub(self.targets[target].channel)
            stream = stub.StreamDueReminders(
                R.StreamDueRemindersRequest(subscriber="platform", max_unacked=200),
                metadata=self.metadata, timeout=max(1, self.deadline - time.monotonic()))
            try:
                for d in stream:
                    if d.delivery_id in self.acked:
                        self.after_ack.append(d.delivery_id)
                        continue
                    self.received[d.delivery_id] = self.received.get(d.delivery_id, 0) + 1
                    try:
                        resp = self.ack_stub.AckDelivery(R.AckDeliveryRequest(
                            delivery_id=d.delivery_id, subscriber="platform"),
                            metadata=self.metadata, timeout=10)
                    except grpc.RpcError as e:
                        self.errors.append(f"ack {d.delivery_id}: {e.code()}")
                        continue
                    if resp.already_acknowledged:
                        self.errors.append(f"acknowledged twice: {d.delivery_id}")
                    self.acked.add(d.delivery_id)
                    if len(self.acked) == self.want:
                        break
            except grpc.RpcError as e:
                # The killed replica's stream breaks: reconnect to the survivor after a pause.
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                    grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                    self.errors.append(f"stream: {e.code()}")
                    break
                self.reconnects += 1
                time.sleep(0.2)
            finally:
                stream.cancel()
            target = 1
        self.done.set()


class DispatchTest(ServicesTestCase):
    def start_replica(self):
        return self.start("reminders", REPLICA_FLAGS)

    def stream_entries(self):
        return sum(self.redis.integers(
            [("XLEN", f"trellis:rem:{{due:{b}}}:out:t1") for b in range(BUCKETS)]))

    def test_every_occurrence_arrives_when_a_replica_dies_mid_dispatch(self):
        doomed = self.start_replica()
        survivor = self.start_replica()
        clinician = auth(token(role="clinician"))
        platform = auth(token(sub="platform-1", role="service"))

        # Every reminder fires once, at the same whole second a little in the future (UTC).
        due = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=12)
               ).replace(microsecond=0)
        start = common_pb2.LocalDateTime(year=due.year, month=due.month, day=due.day,
                                         hours=due.hour, minutes=due.minute, seconds=due.second)
        create = reminders_pb2_grpc.ReminderServiceStub(survivor.channel)
        expected = set()
        for i in range(REMINDERS):
            r = create.CreateReminder(R.CreateReminderRequest(reminder=R.Reminder(
                patient=f"p{i}", kind=R.REMINDER_KIND_PRACTICE, text="Breathing, 5 minutes",
                schedule=R.Schedule(start=start, time_zone="UTC"))),
                metadata=clinician, timeout=10)
            expected.add(r.name + "/occurrences/" + due.strftime("%Y%m%dT%H%M%SZ"))
        self.assertGreater((due - datetime.datetime.now(datetime.timezone.utc)).total_seconds(),
                           1, "creating the reminders took too long for the test's due time")

        subscriber = Subscriber(doomed, survivor, platform, REMINDERS)
        subscriber.start()
        # Kill the doomed replica as soon as dispatching has begun.
        self.assertTrue(wait_until(lambda: self.stream_entries() > 0, 30, 0.0005))
        doomed.kill()
        at_kill = self.stream_entries()
        print(f"killed a replica with {at_kill} of {REMINDERS} occurrences entered for delivery",
              flush=True)
        self.assertLess(at_kill, REMINDERS, "the kill came after dispatching had finished")

        self.assertTrue(subscriber.done.wait(100), "the subscriber did not finish")
        self.assertEqual(subscriber.errors, [])
        self.assertGreaterEqual(subscriber.reconnects, 1, "the stream did not break at the kill")
        self.assertEqual(set(subscriber.received), expected, "every occurrence, none invented")
        self.assertEqual(subscriber.acked, expected)
        self.assertEqual(subscriber.after_ack, [], "an acknowledged delivery came again")
        redelivered = sum(1 for n in subscriber.received.values() if n > 1)
        print(f"{redelivered} deliveries came more than once before their acknowledgement",
              flush=True)

        # Each occurrence was entered for delivery exactly once, and nothing more comes for this
        # subscriber a visibility timeout later.
        self.assertEqual(self.stream_entries(), REMINDERS)
        late = []
        stream = reminders_pb2_grpc.ReminderServiceStub(survivor.channel).StreamDueReminders(
            R.StreamDueRemindersRequest(subscriber="platform"), metadata=platform, timeout=4)
        try:
            for d in stream:
                late.append(d.delivery_id)
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(late, [])


if __name__ == "__main__":
    unittest.main()
