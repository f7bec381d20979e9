"""Scenario 8: bad bytes to every method of every service.

The services run with --max_message_bytes=65536. Every method of GoalService, MeasurementService,
ReminderService and AuditService (client- and server-streaming ones included) gets, through
grpcio generic calls with raw bytes:
  1. random payloads (1 B to 20 KB) and an oversized one (100 KB, beyond the limit);
  2. (after a check that nothing was stored) raw HTTP/2 abuse on a plain socket: garbage instead
     of the preface, a truncated SETTINGS frame, a HEADERS frame with a garbage HPACK block, a
     frame announcing 16 MiB, a gRPC message prefix announcing 1 GiB then EOF, DATA on stream 0,
     and 40 connections left half-open mid-preface;
  3. mutated valid requests: a generic request with every field filled, then bit flips,
     truncations and spliced bytes (some of these are valid messages and may be accepted: they
     are counted, not judged).

Checks: no process exits; no call hangs (each has a 10 s deadline; DEADLINE_EXCEEDED counts as a
hang); each service is SERVING and answers a valid call afterwards; after phases 1 and 2 the
Redis keys other than the audit trail are exactly what they were (nothing stored). The answer
codes of each phase are recorded.

Sizes: TRELLIS_FAULTS_BAD_RANDOM (CI 4, full 20) random payloads per method,
TRELLIS_FAULTS_BAD_MUTATIONS (CI 6, full 40) mutations per method.
"""
import random
import socket
import struct
import time

import grpc

from faultlib import (CLINICIAN, PLATFORM, Counter, G, Result, Stack, alive, code_of,
                      goals_pb2_grpc, log, redis_keys, size)
from trellis.v1 import audit_pb2, goals_pb2, measurements_pb2, reminders_pb2

MAX_MESSAGE = 65536
SERVICES = {
    "goals": [goals_pb2.DESCRIPTOR.services_by_name["GoalService"]],
    "measurements": [measurements_pb2.DESCRIPTOR.services_by_name["MeasurementService"]],
    "reminders": [reminders_pb2.DESCRIPTOR.services_by_name["ReminderService"]],
}
AUDIT = audit_pb2.DESCRIPTOR.services_by_name.get("AuditService")
if AUDIT is not None:
    for v in SERVICES.values():
        v.append(AUDIT)


def filled(descriptor, depth=0):
    """A message of `descriptor` with every field set to something plausible, as bytes."""
    from google.protobuf import message_factory, symbol_database
    try:
        cls = symbol_database.Default().GetSymbol(descriptor.full_name)
    except KeyError:
        cls = message_factory.MessageFactory().GetPrototype(descriptor)
    return _fill(cls(), depth).SerializeToString()


def _fill(msg, depth):
    from google.protobuf.descriptor import FieldDescriptor as F
    for f in msg.DESCRIPTOR.fields:
        if f.containing_oneof is not None and msg.WhichOneof(f.containing_oneof.name):
            continue
        rep = f.label == F.LABEL_REPEATED
        if f.type == F.TYPE_MESSAGE:
            if depth >= 3 or f.message_type.GetOptions().map_entry:
                continue
            sub = getattr(msg, f.name).add() if rep else getattr(msg, f.name)
            _fill(sub, depth + 1)
            continue
        if f.type == F.TYPE_STRING:
            v = "patients/pbad/goals/g1" if f.name in ("name", "goal", "parent") else "pbad"
        elif f.type == F.TYPE_BYTES:
            v = b"pbad"
        elif f.type == F.TYPE_BOOL:
            v = True
        elif f.type == F.TYPE_ENUM:
            v = f.enum_type.values[min(1, len(f.enum_type.values) - 1)].number
        elif f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            v = 1.5
        else:
            v = 1
        if rep:
            getattr(msg, f.name).append(v)
        else:
            setattr(msg, f.name, v)
    return msg


def mutate(rng, data):
    data = bytearray(data or b"\x00")
    kind = rng.randrange(3)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data = data[:rng.randrange(len(data))]
    else:
        i = rng.randrange(len(data) + 1)
        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    return bytes(data)


def call(channel, service, method, payload, metadata):
    path = f"/{service.full_name}/{method.name}"
    req = lambda: iter([payload, payload])  # noqa: E731
    try:
        if method.client_streaming and method.server_streaming:
            list(channel.stream_stream(path)(req(), metadata=metadata, timeout=10))
        elif method.client_streaming:
            channel.stream_unary(path)(req(), metadata=metadata, timeout=10)
        elif method.server_streaming:
            # A stream that is accepted stays open: read a little, then the deadline ends it.
            it = channel.unary_stream(path)(payload, metadata=metadata, timeout=1.5)
            try:
                for _ in it:
                    break
            finally:
                it.cancel()
            return "STREAM_OPEN"
        else:
            channel.unary_unary(path)(payload, metadata=metadata, timeout=10)
        return "OK"
    except grpc.RpcError as e:
        if method.server_streaming and e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return "STREAM_OPEN"
        return code_of(e)


def state_keys(stack):
    return {k for k in redis_keys(stack.redis.port) if not k.startswith(b"trellis:audit:")}


# ---- raw HTTP/2 ---------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


SETTINGS = frame(4, 0, 0, b"")


def hpack_literal(name, value):
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def grpc_headers(path):
    block = b"".join(hpack_literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", path),
        (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers"),
        ("authorization", dict(CLINICIAN)["authorization"])])
    return frame(1, 0x4, 1, block)


def h2_attacks(rng):
    path = "/trellis.v1.GoalService/GetGoal"
    return {
        "garbage instead of preface": bytes(rng.randrange(256) for _ in range(1024)),
        "truncated SETTINGS": PREFACE + frame(4, 0, 0, b"\x00\x03", length=6),
        "HEADERS with garbage HPACK": PREFACE + SETTINGS + frame(
            1, 0x4, 1, bytes(rng.randrange(256) for _ in range(200))),
        "frame announcing 16 MiB": PREFACE + SETTINGS + frame(0, 0, 1, b"x" * 10,
                                                             length=(1 << 24) - 1),
        "gRPC prefix announcing 1 GiB": PREFACE + SETTINGS + grpc_headers(path) + frame(
            0, 0, 1, b"\x00" + struct.pack(">I", 1 << 30) + b"abc"),
        "DATA on stream 0": PREFACE + SETTINGS + frame(0, 0, 0, b"hello"),
        "HEADERS then RST and reuse": PREFACE + SETTINGS + grpc_headers(path) + frame(
            3, 0, 1, struct.pack(">I", 8)) + grpc_headers(path),
    }


def send_raw(port, data, hold=1.0):
    """Sends `data` and reads until the server closes or `hold` seconds pass; returns a summary
    of what came back (GOAWAY, bytes, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
        except OSError as e:
            return f"send failed ({e.__class__.__name__})"
        s.settimeout(hold)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return f"closed after {len(got)} B" + (" (GOAWAY)" if _has_goaway(got)
                                                           else "")
                got += chunk
        except socket.timeout:
            return f"open, {len(got)} B" + (" (GOAWAY)" if _has_goaway(got) else "")
        except OSError as e:
            return f"reset ({e.__class__.__name__})"


def _has_goaway(data):
    i = 0
    while i + 9 <= len(data):
        n = int.from_bytes(data[i:i + 3], "big")
        if data[i + 3] == 7:
            return True
        i += 9 + n
    return False


def run(result):
    rng = random.Random(10)
    n_random = size("bad_random", 4, 20)
    n_mut = size("bad_mutations", 6, 40)
    args = [f"--max_message_bytes={MAX_MESSAGE}"]
    with Stack(service_args={n: args for n in Stack.NAMES}) as stack:
        baseline = state_keys(stack)
        codes = {"random": Counter(), "oversized": Counter(), "mutated": Counter()}
        hangs = []
        total = 0

        def record(phase, name, service, method, payload, md):
            nonlocal total
            t = time.monotonic()
            code = call(stack.channel(name), service, method, payload, md)
            took = time.monotonic() - t
            total += 1
            codes[phase].add(code)
            if code == "DEADLINE_EXCEEDED" or took > 11:
                hangs.append(f"{phase} {method.full_name}: {code} after {took:.1f} s")

        methods = [(name, svc, m) for name, svcs in SERVICES.items() for svc in svcs
                   for m in svc.methods]
        result.figures["methods"] = len(methods)
        log(f"[{result.scenario}] phase 1: random and oversized payloads to {len(methods)} methods")
        for name, svc, m in methods:
            for i in range(n_random):
                payload = bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 64, 900,
                                                                              20000])))
                record("random", name, svc, m, payload, CLINICIAN if i % 2 else PLATFORM)
            record("oversized", name, svc, m, b"\x0a" + b"\xff" * 100_000, CLINICIAN)
        after1 = state_keys(stack)
        result.check(after1 == baseline, f"phase 1 stored keys: {sorted(after1 - baseline)[:5]}")

        log(f"[{result.scenario}] phase 2: raw HTTP/2 abuse")
        h2 = {}
        for name in Stack.NAMES:
            port = stack.ports[name]
            for what, data in h2_attacks(rng).items():
                h2[f"{name}: {what}"] = send_raw(port, data)
                total += 1
            half = []
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(PREFACE[:10])
                half.append(s)
            time.sleep(0.5)
            for s in half:
                s.close()
            total += 40
        after2 = state_keys(stack)
        result.check(after2 == baseline, f"phase 2 stored keys: {sorted(after2 - baseline)[:5]}")

        log(f"[{result.scenario}] phase 3: mutated valid requests")
        for name, svc, m in methods:
            base = filled(m.input_type)
            for i in range(n_mut):
                record("mutated", name, svc, m, mutate(rng, base),
                       CLINICIAN if i % 2 else PLATFORM)

        result.requests = total
        result.acknowledged = sum(c.get("OK") for c in codes.values())
        result.figures["codes"] = {k: c.snapshot() for k, c in codes.items()}
        result.figures["http2"] = h2
        result.check(not hangs, f"calls that hung: {hangs[:5]}")
        for name, svc in stack.services.items():
            if not alive(svc.proc):
                result.fail(f"{name} exited with status {svc.proc.poll()} under bad bytes; "
                                 f"stderr: {open(svc.err_path).read()[-500:]}")
            else:
                result.check(svc.health() == "SERVING", f"{name} not SERVING afterwards")
        goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        g = goals.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
            patient="pgood", title="Walk 20 minutes a day")), metadata=CLINICIAN, timeout=10)
        result.check(g.name.startswith("patients/pgood/goals/"), "a valid call failed afterwards")
        # Random bytes never name a plausible patient: nothing for `pbad` from phase 1 or 2
        # (checked on the keys above); phase 3's accepted calls may have written for it.
        random_ok = codes["random"].get("OK")
        result.figures["random_payloads_accepted"] = random_ok
        oversized = codes["oversized"].snapshot()
        result.check(set(oversized) <= {"RESOURCE_EXHAUSTED", "STREAM_OPEN"},
                     f"oversized requests answered {oversized} (want RESOURCE_EXHAUSTED)")
        result.error_window = "none (no crash, no hang)" if not hangs else f"{len(hangs)} hangs"
        result.note("answer codes: " + "; ".join(
            f"{k}: {dict(sorted(c.snapshot().items()))}" for k, c in codes.items()))


def scenario():
    r = Result("8 bad bytes", "random/oversized/mutated payloads to every method; raw HTTP/2 junk")
    return r, run
