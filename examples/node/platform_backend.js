#!/usr/bin/env node
// A platform backend integrating with Trellis, in Node.js (@grpc/grpc-js, @grpc/proto-loader).
//
// What an integrating platform does with Trellis, in order:
//
//   0. setup (normally done by the clinician app): a clinician schedules a GAD-7 check-in
//      reminder for a patient, due a few seconds from now;
//   1. subscribe to due reminders (ReminderService.StreamDueReminders) as a service;
//   2. "send" each delivery to the person (here: print it), de-duplicating on delivery_id, and
//      acknowledge it (AckDelivery) so it is not delivered again;
//   3. when the app calls back (faked here: the patient answered the check-in), submit the GAD-7
//      answers (MeasurementService.SubmitQuestionnaire) and record the occurrence as done
//      (ReminderService.RecordCompletion);
//   4. read the patient summary a clinician's dashboard shows
//      (MeasurementService.GetPatientSummary).
//
// It checks what comes back at every step and exits non-zero when a check fails, so CI runs it
// against a real stack (tests/e2e/examples_test.py). Run it by hand against `make run`: see
// examples/README.md. The protos are loaded at run time from the repository's proto/ directory:
// no generated code.
//
// Configuration (flags, each with an environment twin):
//   --reminders_addr     TRELLIS_REMINDERS_ADDR     default 127.0.0.1:50053
//   --measurements_addr  TRELLIS_MEASUREMENTS_ADDR  default 127.0.0.1:50052
//   --service_token      TRELLIS_SERVICE_TOKEN      required: role "service"
//   --clinician_token    TRELLIS_CLINICIAN_TOKEN    required: role "clinician", same tenant
//   --patient            TRELLIS_EXAMPLE_PATIENT    default: a fresh id per run
//   --subscriber         TRELLIS_EXAMPLE_SUBSCRIBER default example-platform
//   --proto_dir          TRELLIS_PROTO_DIR          default: the repository's proto/
//   --budget_seconds     how long the whole run may take (default 45)
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// Every call gets its own deadline: a stack that is down or stuck makes this fail in seconds
// instead of hanging.
const CALL_TIMEOUT_MS = 10_000;

// The answers the patient gives in the app: GAD-7, seven items scored 0..3 (total 0..21).
const GAD7_ANSWERS = [2, 2, 1, 2, 1, 1, 1];

// Retries are declared once, in the channel's service config, not written as loops around calls:
// the policy the Trellis services use between themselves (docs/api.md §7). Only UNAVAILABLE is
// retried (the Trellis API returns it only for faults a retry can fix). Every call this backend
// makes is safe to repeat: reads, acknowledgements (idempotent by delivery_id), completions of
// the same outcome, and creates that carry a request_id. A server stream is retried only until
// its first message arrives; after that, reconnecting is our job (below).
const SERVICE_CONFIG = JSON.stringify({
  methodConfig: [{
    name: [{ service: 'trellis.v1.ReminderService' }, { service: 'trellis.v1.MeasurementService' }],
    retryPolicy: {
      maxAttempts: 3,
      initialBackoff: '0.1s',
      maxBackoff: '1s',
      backoffMultiplier: 2,
      retryableStatusCodes: ['UNAVAILABLE'],
    },
  }],
});

function parseConfig() {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      reminders_addr: { type: 'string', default: env.TRELLIS_REMINDERS_ADDR || '127.0.0.1:50053' },
      measurements_addr: {
        type: 'string', default: env.TRELLIS_MEASUREMENTS_ADDR || '127.0.0.1:50052',
      },
      service_token: { type: 'string', default: env.TRELLIS_SERVICE_TOKEN || '' },
      clinician_token: { type: 'string', default: env.TRELLIS_CLINICIAN_TOKEN || '' },
      patient: {
        type: 'string',
        default: env.TRELLIS_EXAMPLE_PATIENT || `example-${crypto.randomBytes(6).toString('hex')}`,
      },
      subscriber: { type: 'string', default: env.TRELLIS_EXAMPLE_SUBSCRIBER || 'example-platform' },
      proto_dir: {
        type: 'string', default: env.TRELLIS_PROTO_DIR || path.join(__dirname, '..', '..', 'proto'),
      },
      budget_seconds: { type: 'string', default: '45' },
    },
  });
  if (!values.service_token || !values.clinician_token) {
    console.error('error: a service token and a clinician token are needed ' +
                  '(TRELLIS_SERVICE_TOKEN, TRELLIS_CLINICIAN_TOKEN; see examples/README.md)');
    process.exit(2);
  }
  return values;
}

// Records what the example expects of each answer; the exit status says whether all held.
class Checks {
  constructor() { this.failed = []; }

  expect(condition, what) {
    console.log(`  ${condition ? 'ok  ' : 'FAIL'} ${what}`);
    if (!condition) this.failed.push(what);
    return condition;
  }
}

// Call metadata for one identity. Trellis takes tenant, subject and role from the verified token
// only; no request field carries them.
function bearer(token) {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

// An idempotency key derived from the delivery, so that handling the same delivery twice (a
// redelivery, a crash between the call and our own bookkeeping) writes once. request_ids are 1-64
// of [A-Za-z0-9._-]; delivery ids are longer and contain '/', hence the hash.
function requestIdFor(purpose, deliveryId) {
  return `${purpose}-${crypto.createHash('sha256').update(deliveryId).digest('hex').slice(0, 40)}`;
}

// One unary call as a promise, with its own deadline.
function unary(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata.clone(), { deadline: Date.now() + CALL_TIMEOUT_MS },
                   (err, response) => (err ? reject(err) : resolve(response)));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function loadClients(config) {
  // keepCase: the field names of the protos (delivery_id, not deliveryId); enums as their names;
  // defaults: unset fields read as their proto3 defaults, as in the generated code of other
  // languages.
  const definition = protoLoader.loadSync(
    ['trellis/v1/reminders.proto', 'trellis/v1/measurements.proto'],
    { includeDirs: [config.proto_dir], keepCase: true, longs: String, enums: String,
      defaults: true, oneofs: true });
  const v1 = grpc.loadPackageDefinition(definition).trellis.v1;
  // Plaintext for a local stack. In production Trellis serves TLS (mutual TLS between pods): use
  // grpc.credentials.createSsl(...) with the same options.
  const credentials = grpc.credentials.createInsecure();
  const options = { 'grpc.enable_retries': 1, 'grpc.service_config': SERVICE_CONFIG };
  return {
    reminders: new v1.ReminderService(config.reminders_addr, credentials, options),
    measurements: new v1.MeasurementService(config.measurements_addr, credentials, options),
  };
}

// Setup (normally done by the clinician app): a one-off GAD-7 check-in due in 3 seconds. A
// schedule without an rrule fires once, at `start` in `time_zone`.
async function setupCheckInReminder(reminders, asClinician, patient) {
  const due = new Date(Math.floor(Date.now() / 1000) * 1000 + 3000);
  const reminder = await unary(reminders, 'CreateReminder', {
    reminder: {
      patient,
      kind: 'REMINDER_KIND_CHECK_IN_QUESTIONNAIRE',
      instrument: 'gad7',
      text: 'Time for your weekly GAD-7 check-in',
      channel: 'REMINDER_CHANNEL_PUSH',
      schedule: {
        start: {
          year: due.getUTCFullYear(), month: due.getUTCMonth() + 1, day: due.getUTCDate(),
          hours: due.getUTCHours(), minutes: due.getUTCMinutes(), seconds: due.getUTCSeconds(),
        },
        time_zone: 'UTC',
      },
    },
    // A create is not idempotent by itself; with a request_id the retry policy above may repeat
    // it safely (a repeat returns the first reminder instead of making a second).
    request_id: `setup-${crypto.randomUUID()}`,
  }, asClinician);
  console.log(`setup: ${reminder.name} due ${due.toISOString()}`);
  return reminder;
}

// Where a real platform pushes a notification, sends an SMS or an email. Here: print.
function sendToPerson(delivery) {
  const r = delivery.reminder;
  console.log(`send: ${r.channel} to patient ${r.patient}: ${JSON.stringify(r.text)} ` +
              `(delivery ${delivery.delivery_id}, attempt ${delivery.attempt}, ` +
              `scheduled ${delivery.local_time}${delivery.late ? ', late' : ''})`);
}

// Streams due reminders until the delivery of reminder `wanted` has been sent and acknowledged;
// returns that delivery (null if it never came before `deadline`, a time in ms).
//
// Every delivery that arrives is sent and acknowledged, not only the one this run waits for: a
// subscriber receives every due occurrence of its tenant.
async function deliverDueReminders(reminders, asService, subscriber, wanted, deadline, checks) {
  const sent = new Set(); // delivery ids already handed to the person (a real backend persists it)
  let backoffMs = 200;
  while (Date.now() < deadline) {
    // A long-running backend opens this stream without a deadline: it stays open, and the server
    // ends it now and then (below). This run is bounded, so its stream carries what is left of the
    // budget. The token is checked when the stream opens: reopen with a fresh one.
    const streamDeadline = Math.max(deadline, Date.now() + 1000);
    const stream = reminders.StreamDueReminders({ subscriber, max_unacked: 100 },
                                                asService.clone(), { deadline: streamDeadline });
    // cancel() in `finally` ends the call with CANCELLED after the loop has what it needs; the
    // loop itself sees every other error (it listens too).
    stream.on('error', () => {});
    try {
      for await (const delivery of stream) {
        backoffMs = 200;
        // At-least-once: a delivery whose acknowledgement was lost comes again with the same
        // delivery_id (attempt + 1). Send it once, acknowledge it every time.
        if (!sent.has(delivery.delivery_id)) {
          sendToPerson(delivery);
          sent.add(delivery.delivery_id);
        }
        // Acknowledge only after the person has been notified: if we crash in between, Trellis
        // delivers it again after the visibility timeout (Delivery.ack_deadline). An
        // acknowledgement that fails even after the retries could be left: the delivery comes
        // again and `sent` skips it. This example checks the stack, so it fails.
        const ackRequest = { delivery_id: delivery.delivery_id, subscriber };
        const ack = await unary(reminders, 'AckDelivery', ackRequest, asService);
        if (delivery.reminder.name !== wanted) continue;
        checks.expect(delivery.occurrence_id.startsWith(`${wanted}/occurrences/`),
                      'the delivery names an occurrence of the reminder set up');
        checks.expect(delivery.reminder.instrument === 'gad7',
                      'the delivery carries the reminder (instrument gad7)');
        checks.expect(!ack.already_acknowledged, 'the first acknowledgement is new');
        // Acknowledging is idempotent: a retry after a lost answer is harmless.
        const again = await unary(reminders, 'AckDelivery', ackRequest, asService);
        checks.expect(again.already_acknowledged,
                      'acknowledging again answers already_acknowledged');
        return delivery;
      }
    } catch (err) {
      if (err.code === grpc.status.DEADLINE_EXCEEDED) return null;
      // The server ends streams with UNAVAILABLE when it drains (a rolling update) or loses
      // Redis: reconnect with backoff. Unacknowledged deliveries come again.
      if (err.code !== grpc.status.UNAVAILABLE) throw err;
      console.log(`stream: UNAVAILABLE, reconnecting in ${backoffMs / 1000}s`);
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 5000);
    } finally {
      stream.cancel();
    }
  }
  return null;
}

// The app reports that the patient answered the check-in: store the answers, then mark the
// occurrence done. Both writes carry request_ids derived from the delivery, so a callback that
// arrives twice (or a retried call) stores one questionnaire and one completion.
async function onAppCallback(clients, asService, delivery, answers, checks) {
  const total = answers.reduce((a, b) => a + b, 0);
  const submitted = await unary(clients.measurements, 'SubmitQuestionnaire', {
    patient: delivery.reminder.patient,
    instrument: delivery.reminder.instrument,
    answers: answers.map((value, i) => ({ item: i + 1, value })),
    // The patient answered it: source CLIENT. (A clinician's token records CLINICIAN by itself;
    // a service must say whose answers these are.)
    source: 'MEASUREMENT_SOURCE_CLIENT',
    request_id: requestIdFor('gad7', delivery.delivery_id),
  }, asService);
  const measurement = submitted.measurement;
  const q = measurement.questionnaire;
  console.log(`questionnaire: ${measurement.name} total ${q.total} (${q.severity_band})`);
  checks.expect(q.total === total,
                `the GAD-7 total is the sum of the answers (${q.total} == ${total})`);
  checks.expect(measurement.value === total, 'the measurement holds the total');
  checks.expect(q.severity_band !== '', 'the total has a severity band');
  checks.expect(submitted.safety_flags.length === 0, 'GAD-7 raises no safety flag');

  const completion = await unary(clients.reminders, 'RecordCompletion', {
    reminder: delivery.reminder.name,
    occurrence_id: delivery.occurrence_id,
    outcome: 'COMPLETION_OUTCOME_DONE',
    request_id: requestIdFor('done', delivery.delivery_id),
  }, asService);
  console.log(`completion: ${completion.name} ${completion.outcome}`);
  checks.expect(completion.outcome === 'COMPLETION_OUTCOME_DONE', 'the occurrence is DONE');
  checks.expect(completion.occurrence_id === delivery.occurrence_id,
                'the completion is for the delivered occurrence');
  return measurement;
}

// What the clinician's dashboard shows. The summary is clinical data: the authorization policy
// grants it to clinicians (any patient of the tenant) and clients (their own), not to the service
// role, so the backend reads it on behalf of the signed-in clinician, with the clinician's token.
async function checkPatientSummary(measurements, asClinician, measurement, checks) {
  const summary = await unary(measurements, 'GetPatientSummary',
                              { patient: measurement.patient }, asClinician);
  const gad7 = summary.latest_scores.find((s) => s.metric === 'gad7');
  if (!checks.expect(gad7 !== undefined, 'the summary has a latest GAD-7 score')) return;
  console.log(`summary: ${summary.patient} gad7 ${gad7.latest.value} (${gad7.severity_band})`);
  checks.expect(gad7.latest.value === measurement.value, 'the summary shows the submitted score');
  checks.expect(gad7.latest.measurement === measurement.name,
                "the summary's score is the submitted measurement");
  checks.expect(gad7.severity_band === measurement.questionnaire.severity_band,
                "the summary shows the submission's severity band");
  checks.expect(summary.open_safety_flags.length === 0, 'no open safety flags');
}

async function main() {
  const config = parseConfig();
  const deadline = Date.now() + Number(config.budget_seconds) * 1000;
  const checks = new Checks();
  // Two identities, as a real platform backend has them:
  // - its own service identity (role "service") for the delivery path: only services may
  //   subscribe to due reminders and acknowledge them, and a service may record completions and
  //   submit the answers the app collected;
  // - the signed-in clinician's token (role "clinician") for clinical reads and for what a
  //   clinician does: the patient summary, creating reminders.
  // Both come from the platform's identity provider; for a local stack, mint them with
  // `trellisctl token` (examples/README.md).
  const asService = bearer(config.service_token);
  const asClinician = bearer(config.clinician_token);
  const clients = loadClients(config);

  let step = 'setup';
  try {
    const reminder = await setupCheckInReminder(clients.reminders, asClinician, config.patient);
    step = 'delivery';
    const delivery = await deliverDueReminders(clients.reminders, asService, config.subscriber,
                                               reminder.name, deadline, checks);
    if (!checks.expect(delivery !== null,
                       'the reminder set up was delivered within the time budget')) {
      return 1;
    }
    step = 'app callback';
    const measurement = await onAppCallback(clients, asService, delivery, GAD7_ANSWERS, checks);
    step = 'summary';
    await checkPatientSummary(clients.measurements, asClinician, measurement, checks);
  } catch (err) {
    if (err.code === undefined) throw err;
    // Trellis errors carry a code, a message and (in grpc-status-details-bin) a google.rpc.Status
    // with an ErrorInfo reason; the code and message are enough here.
    console.error(`FAIL: ${step}: call failed: ${grpc.status[err.code]}: ${err.details}`);
    return 1;
  } finally {
    clients.reminders.close();
    clients.measurements.close();
  }

  if (checks.failed.length > 0) {
    console.error(`${checks.failed.length} check(s) failed`);
    return 1;
  }
  console.log('all checks passed');
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(err);
  process.exitCode = 1;
});
