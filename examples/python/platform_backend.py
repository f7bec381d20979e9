#!/usr/bin/python3
"""A platform backend integrating with Trellis, in Python (Debian's python3-grpcio).

What an integrating platform does with Trellis, in order:

  0. setup (normally done by the clinician app): a clinician schedules a GAD-7 check-in reminder
     for a patient, due a few seconds from now;
  1. subscribe to due reminders (ReminderService.StreamDueReminders) as a service;
  2. "send" each delivery to the person (here: print it), de-duplicating on delivery_id, and
     acknowledge it (AckDelivery) so it is not delivered again;
  3. when the app calls back (faked here: the patient answered the check-in), submit the GAD-7
     answers (MeasurementService.SubmitQuestionnaire) and record the occurrence as done
     (ReminderService.RecordCompletion);
  4. read the patient summary a clinician's dashboard shows (MeasurementService.GetPatientSummary).

It checks what comes back at every step and exits non-zero when a check fails, so CI runs it
against a real stack (tests/e2e/examples_test.py). Run it by hand against `make run`: see
examples/README.md.

Configuration (flags, each with an environment twin):
  --reminders_addr     TRELLIS_REMINDERS_ADDR     default 127.0.0.1:50053
  --measurements_addr  TRELLIS_MEASUREMENTS_ADDR  default 127.0.0.1:50052
  --service_token      TRELLIS_SERVICE_TOKEN      required: role "service"
  --clinician_token    TRELLIS_CLINICIAN_TOKEN    required: role "clinician", same tenant
  --patient            TRELLIS_EXAMPLE_PATIENT    default: a fresh id per run
  --subscriber         TRELLIS_EXAMPLE_SUBSCRIBER default example-platform
  --stubs              TRELLIS_PY_STUBS           the generated Python code (default build/py)
  --budget_seconds     how long the whole run may take (default 45)
"""
import argparse
import datetime
import hashlib
import json
import os
import sys
import time
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Every call gets its own deadline: a stack that is down or stuck makes this fail in seconds
# instead of hanging.
CALL_TIMEOUT_S = 10

# The answers the patient gives in the app: GAD-7, seven items scored 0..3 (total 0..21).
GAD7_ANSWERS = [2, 2, 1, 2, 1, 1, 1]

# Retries are declared once, in the channel's service config, not written as loops around calls:
# the policy the Trellis services use between themselves (docs/api.md §7). Only UNAVAILABLE is
# retried (the Trellis API returns it only for faults a retry can fix). Every call this backend
# makes is safe to repeat: reads, acknowledgements (idempotent by delivery_id), completions of
# the same outcome, and creates that carry a request_id. A server stream is retried only until
# its first message arrives; after that, reconnecting is our job (below).
SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "trellis.v1.ReminderService"},
                 {"service": "trellis.v1.MeasurementService"}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.1s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
})


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reminders_addr", default=env("TRELLIS_REMINDERS_ADDR", "127.0.0.1:50053"))
    p.add_argument("--measurements_addr",
                   default=env("TRELLIS_MEASUREMENTS_ADDR", "127.0.0.1:50052"))
    p.add_argument("--service_token", default=env("TRELLIS_SERVICE_TOKEN", ""))
    p.add_argument("--clinician_token", default=env("TRELLIS_CLINICIAN_TOKEN", ""))
    p.add_argument("--patient", default=env("TRELLIS_EXAMPLE_PATIENT",
                                            f"example-{uuid.uuid4().hex[:12]}"))
    p.add_argument("--subscriber", default=env("TRELLIS_EXAMPLE_SUBSCRIBER", "example-platform"))
    p.add_argument("--stubs", default=env("TRELLIS_PY_STUBS", os.path.join(REPO, "build", "py")))
    p.add_argument("--budget_seconds", type=float, default=45)
    args = p.parse_args()
    if not args.service_token or not args.clinician_token:
        p.error("a service token and a clinician token are needed "
                "(TRELLIS_SERVICE_TOKEN, TRELLIS_CLINICIAN_TOKEN; see examples/README.md)")
    return args


ARGS = parse_args()
# The generated code (protoc's Python output for proto/): the build writes it to build/py.
sys.path.insert(0, ARGS.stubs)

import grpc  # noqa: E402
from trellis.v1 import common_pb2  # noqa: E402
from trellis.v1 import measurements_pb2 as M, measurements_pb2_grpc  # noqa: E402
from trellis.v1 import reminders_pb2 as R, reminders_pb2_grpc  # noqa: E402


class Checks:
    """Records what the example expects of each answer; the exit status says whether all held."""

    def __init__(self):
        self.failed = []

    def expect(self, condition, what):
        print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
        if not condition:
            self.failed.append(what)
        return condition


def bearer(token):
    """Call metadata for one identity. Trellis takes tenant, subject and role from the verified
    token only; no request field carries them."""
    return (("authorization", f"Bearer {token}"),)


def request_id_for(purpose, delivery_id):
    """An idempotency key derived from the delivery, so that handling the same delivery twice
    (a redelivery, a crash between the call and our own bookkeeping) writes once. request_ids are
    1-64 of [A-Za-z0-9._-]; delivery ids are longer and contain '/', hence the hash."""
    return f"{purpose}-{hashlib.sha256(delivery_id.encode()).hexdigest()[:40]}"


def channel(address):
    # Plaintext for a local stack. In production Trellis serves TLS (mutual TLS between pods):
    # use grpc.secure_channel(address, grpc.ssl_channel_credentials(...)) with the same options.
    return grpc.insecure_channel(address, options=[("grpc.enable_retries", 1),
                                                   ("grpc.service_config", SERVICE_CONFIG)])


def setup_check_in_reminder(reminders, as_clinician, patient):
    """Setup (normally done by the clinician app): a one-off GAD-7 check-in due in 3 seconds.
    A schedule without an rrule fires once, at `start` in `time_zone`."""
    due = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
           ).replace(microsecond=0)
    reminder = reminders.CreateReminder(R.CreateReminderRequest(
        reminder=R.Reminder(
            patient=patient, kind=R.REMINDER_KIND_CHECK_IN_QUESTIONNAIRE, instrument="gad7",
            text="Time for your weekly GAD-7 check-in", channel=R.REMINDER_CHANNEL_PUSH,
            schedule=R.Schedule(
                start=common_pb2.LocalDateTime(year=due.year, month=due.month, day=due.day,
                                               hours=due.hour, minutes=due.minute,
                                               seconds=due.second),
                time_zone="UTC")),
        # A create is not idempotent by itself; with a request_id the retry policy above may
        # repeat it safely (a repeat returns the first reminder instead of making a second).
        request_id=f"setup-{uuid.uuid4()}"),
        metadata=as_clinician, timeout=CALL_TIMEOUT_S)
    print(f"setup: {reminder.name} due {due.isoformat()}", flush=True)
    return reminder


def send_to_person(delivery):
    """Where a real platform pushes a notification, sends an SMS or an email. Here: print."""
    r = delivery.reminder
    print(f"send: {R.ReminderChannel.Name(r.channel)} to patient {r.patient}: {r.text!r} "
          f"(delivery {delivery.delivery_id}, attempt {delivery.attempt}, "
          f"scheduled {delivery.local_time}{', late' if delivery.late else ''})", flush=True)


def deliver_due_reminders(reminders, as_service, subscriber, wanted, deadline, checks):
    """Streams due reminders until the delivery of reminder `wanted` has been sent and
    acknowledged; returns that delivery (None if it never came before `deadline`).

    Every delivery that arrives is sent and acknowledged, not only the one this run waits for: a
    subscriber receives every due occurrence of its tenant."""
    sent = set()  # delivery ids already handed to the person (a real backend persists this)
    backoff = 0.2
    while time.monotonic() < deadline:
        # A long-running backend opens this stream without a deadline: it stays open, and the
        # server ends it now and then (below). This run is bounded, so its stream carries what is
        # left of the budget. The token is checked when the stream opens: reopen with a fresh one.
        stream = reminders.StreamDueReminders(
            R.StreamDueRemindersRequest(subscriber=subscriber, max_unacked=100),
            metadata=as_service, timeout=max(1.0, deadline - time.monotonic()))
        try:
            for delivery in stream:
                backoff = 0.2
                # At-least-once: a delivery whose acknowledgement was lost comes again with the
                # same delivery_id (attempt + 1). Send it once, acknowledge it every time.
                if delivery.delivery_id not in sent:
                    send_to_person(delivery)
                    sent.add(delivery.delivery_id)
                # Acknowledge only after the person has been notified: if we crash in between,
                # Trellis delivers it again after the visibility timeout (Delivery.ack_deadline).
                # An acknowledgement that fails even after the retries could be left: the delivery
                # comes again and `sent` skips it. This example checks the stack, so it fails.
                ack = reminders.AckDelivery(
                    R.AckDeliveryRequest(delivery_id=delivery.delivery_id, subscriber=subscriber),
                    metadata=as_service, timeout=CALL_TIMEOUT_S)
                if delivery.reminder.name != wanted:
                    continue
                checks.expect(delivery.occurrence_id.startswith(wanted + "/occurrences/"),
                              "the delivery names an occurrence of the reminder set up")
                checks.expect(delivery.reminder.instrument == "gad7",
                              "the delivery carries the reminder (instrument gad7)")
                checks.expect(not ack.already_acknowledged, "the first acknowledgement is new")
                # Acknowledging is idempotent: a retry after a lost answer is harmless.
                again = reminders.AckDelivery(
                    R.AckDeliveryRequest(delivery_id=delivery.delivery_id, subscriber=subscriber),
                    metadata=as_service, timeout=CALL_TIMEOUT_S)
                checks.expect(again.already_acknowledged,
                              "acknowledging again answers already_acknowledged")
                return delivery
        except grpc.RpcError as e:
            # The server ends streams with UNAVAILABLE when it drains (a rolling update) or loses
            # Redis: reconnect with backoff. Unacknowledged deliveries come again.
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return None
                raise
            print(f"stream: {e.code().name}, reconnecting in {backoff:.1f}s", flush=True)
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            stream.cancel()
    return None


def on_app_callback(measurements, reminders, as_service, delivery, answers, checks):
    """The app reports that the patient answered the check-in: store the answers, then mark the
    occurrence done. Both writes carry request_ids derived from the delivery, so a callback that
    arrives twice (or a retried call) stores one questionnaire and one completion."""
    patient = delivery.reminder.patient
    submitted = measurements.SubmitQuestionnaire(M.SubmitQuestionnaireRequest(
        patient=patient, instrument=delivery.reminder.instrument,
        answers=[M.ItemAnswer(item=i + 1, value=v) for i, v in enumerate(answers)],
        # The patient answered it: source CLIENT. (A clinician's token records CLINICIAN by
        # itself; a service must say whose answers these are.)
        source=M.MEASUREMENT_SOURCE_CLIENT,
        request_id=request_id_for("gad7", delivery.delivery_id)),
        metadata=as_service, timeout=CALL_TIMEOUT_S)
    q = submitted.measurement.questionnaire
    print(f"questionnaire: {submitted.measurement.name} total {q.total} ({q.severity_band})",
          flush=True)
    checks.expect(q.total == sum(answers), f"the GAD-7 total is the sum of the answers "
                                           f"({q.total} == {sum(answers)})")
    checks.expect(submitted.measurement.value == sum(answers), "the measurement holds the total")
    checks.expect(q.severity_band != "", "the total has a severity band")
    checks.expect(len(submitted.safety_flags) == 0, "GAD-7 raises no safety flag")

    completion = reminders.RecordCompletion(R.RecordCompletionRequest(
        reminder=delivery.reminder.name, occurrence_id=delivery.occurrence_id,
        outcome=R.COMPLETION_OUTCOME_DONE,
        request_id=request_id_for("done", delivery.delivery_id)),
        metadata=as_service, timeout=CALL_TIMEOUT_S)
    print(f"completion: {completion.name} {R.CompletionOutcome.Name(completion.outcome)}",
          flush=True)
    checks.expect(completion.outcome == R.COMPLETION_OUTCOME_DONE, "the occurrence is DONE")
    checks.expect(completion.occurrence_id == delivery.occurrence_id,
                  "the completion is for the delivered occurrence")
    return submitted.measurement


def check_patient_summary(measurements, as_clinician, measurement, checks):
    """What the clinician's dashboard shows. The summary is clinical data: the authorization
    policy grants it to clinicians (any patient of the tenant) and clients (their own), not to
    the service role, so the backend reads it on behalf of the signed-in clinician, with the
    clinician's token."""
    summary = measurements.GetPatientSummary(
        M.GetPatientSummaryRequest(patient=measurement.patient),
        metadata=as_clinician, timeout=CALL_TIMEOUT_S)
    scores = {s.metric: s for s in summary.latest_scores}
    gad7 = scores.get("gad7")
    if not checks.expect(gad7 is not None, "the summary has a latest GAD-7 score"):
        return
    print(f"summary: {summary.patient} gad7 {gad7.latest.value:g} ({gad7.severity_band})",
          flush=True)
    checks.expect(gad7.latest.value == measurement.value,
                  "the summary shows the submitted score")
    checks.expect(gad7.latest.measurement == measurement.name,
                  "the summary's score is the submitted measurement")
    checks.expect(gad7.severity_band == measurement.questionnaire.severity_band,
                  "the summary shows the submission's severity band")
    checks.expect(len(summary.open_safety_flags) == 0, "no open safety flags")


def main():
    deadline = time.monotonic() + ARGS.budget_seconds
    checks = Checks()
    # Two identities, as a real platform backend has them:
    # - its own service identity (role "service") for the delivery path: only services may
    #   subscribe to due reminders and acknowledge them, and a service may record completions and
    #   submit the answers the app collected;
    # - the signed-in clinician's token (role "clinician") for clinical reads and for what a
    #   clinician does: the patient summary, creating reminders.
    # Both come from the platform's identity provider; for a local stack, mint them with
    # `trellisctl token` (examples/README.md).
    as_service = bearer(ARGS.service_token)
    as_clinician = bearer(ARGS.clinician_token)
    reminders = reminders_pb2_grpc.ReminderServiceStub(channel(ARGS.reminders_addr))
    measurements = measurements_pb2_grpc.MeasurementServiceStub(channel(ARGS.measurements_addr))

    step = "setup"
    try:
        reminder = setup_check_in_reminder(reminders, as_clinician, ARGS.patient)
        step = "delivery"
        delivery = deliver_due_reminders(reminders, as_service, ARGS.subscriber, reminder.name,
                                         deadline, checks)
        if not checks.expect(delivery is not None,
                             "the reminder set up was delivered within the time budget"):
            return 1
        step = "app callback"
        measurement = on_app_callback(measurements, reminders, as_service, delivery,
                                      GAD7_ANSWERS, checks)
        step = "summary"
        check_patient_summary(measurements, as_clinician, measurement, checks)
    except grpc.RpcError as e:
        # Trellis errors carry a code, a message and (in grpc-status-details-bin) a
        # google.rpc.Status with an ErrorInfo reason; the code and message are enough here.
        print(f"FAIL: {step}: call failed: {e.code().name}: {e.details()}", file=sys.stderr,
              flush=True)
        return 1

    if checks.failed:
        print(f"{len(checks.failed)} check(s) failed", file=sys.stderr, flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
