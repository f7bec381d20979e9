"""End-to-end harness: a private redis-server and the real service binaries, all on free loopback
ports in a temp dir, driven from Python's grpcio (Debian's python3-grpcio, /usr/bin/python3)."""
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

PY_STUBS = os.environ["TRELLIS_PY_STUBS"]
sys.path.insert(0, PY_STUBS)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # noqa: E402
from trellis.v1 import common_pb2, reminders_pb2 as R  # noqa: E402
from ports import free_port  # noqa: E402,F401  (re-exported to the suites)

BINARIES = {
    "goals": os.environ.get("TRELLIS_GOALS_BIN"),
    "measurements": os.environ.get("TRELLIS_MEASUREMENTS_BIN"),
    "reminders": os.environ.get("TRELLIS_REMINDERS_BIN"),
}
SERVICE_NAMES = {
    "goals": "trellis.v1.GoalService",
    "measurements": "trellis.v1.MeasurementService",
    "reminders": "trellis.v1.ReminderService",
}


# redis-server behind the shipped start wrapper (it takes redis-server's arguments).
REDIS_START = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                           "redis", "redis-start.sh")


def wait_until(predicate, limit=15.0, step=0.05):
    """Polls predicate() until it returns a truthy value or `limit` seconds pass."""
    end = time.monotonic() + limit
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


class Redis:
    """A private redis-server. `extra_args` are more redis-server options (e.g. `--appendfsync
    always`); restarting it (stop, then start) keeps its port and data directory."""

    def __init__(self, workdir, extra_args=()):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.start()

    def start(self):
        # Through the wrapper the deployments use: it repairs an AOF torn by a kill before Redis
        # loads it (deploy/redis/redis-start.sh says why).
        self.proc = subprocess.Popen(
            [REDIS_START, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--save", "", "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log"), *self.extra_args])
        ok = wait_until(lambda: self.ping(), 10)
        assert ok, "redis-server did not start"

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, hard=True):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def integers(self, commands):
        """Runs commands that answer integers (XLEN, ZCARD, ...) pipelined on one connection; a
        fast way to watch state change while binaries work."""
        payload = b"".join(
            b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode())
                                          for a in c)
            for c in commands)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            f = s.makefile("rb")
            out = []
            for _ in commands:
                line = f.readline()
                assert line.startswith(b":"), line
                out.append(int(line[1:]))
            return out

    def cli(self, *args):
        """One command through redis-cli; its raw reply as text."""
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--raw", *args],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()


def crc16(data):
    """CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The slot of `key`: CRC16 of its hash tag (the text in its first {...}, if not empty)."""
    raw = key.encode()
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1:end]
    return crc16(raw) % 16384


class RedisCluster:
    """A real 3-primary Redis Cluster on loopback (TRELLIS_E2E_REDIS=cluster), offering what the
    tests use of Redis: `url` (what Service takes; "cluster:<seeds>" becomes --redis_cluster),
    stop()/start() of every node (they come back with their slots, from their nodes.conf),
    integers() and cli() routed to the node serving each key."""

    def __init__(self, workdir, primaries=3, replicas=0):
        self.nodes = []
        for i in range(primaries * (1 + replicas)):
            node = Redis(os.path.join(workdir, f"node{i}"), [
                "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"])
            self.nodes.append(node)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *[f"127.0.0.1:{n.port}" for n in self.nodes],
                        "--cluster-replicas", str(replicas), "--cluster-yes"],
                       capture_output=True, text=True, timeout=60, check=True)
        assert wait_until(self.healthy, 30), "the cluster did not come up"
        self.owners = self._slot_owners()

    def _info(self, node):
        try:
            return subprocess.run(["redis-cli", "-p", str(node.port), "CLUSTER", "INFO"],
                                  capture_output=True, text=True, timeout=5).stdout
        except subprocess.TimeoutExpired:
            return ""

    def healthy(self):
        """Every running node reports cluster_state:ok."""
        return all("cluster_state:ok" in self._info(n) for n in self.nodes if n.proc is not None)

    def node_id(self, node):
        return node.cli("CLUSTER", "MYID")

    def primaries(self):
        """The nodes serving slots now, as the map last read them."""
        self.owners = self._slot_owners()
        return [n for n in self.nodes if n in self.owners]

    def _slot_owners(self):
        owners = [None] * 16384
        ask = next(n for n in self.nodes if n.proc is not None)
        for line in subprocess.run(
                ["redis-cli", "-p", str(ask.port), "CLUSTER", "NODES"],
                capture_output=True, text=True, timeout=5).stdout.splitlines():
            fields = line.split()
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            node = next(n for n in self.nodes if n.port == port)
            if "fail" in fields[2].split(",") or "master" not in fields[2].split(","):
                continue
            for spec in fields[8:]:
                if spec.startswith("["):
                    continue
                first, _, last = spec.partition("-")
                for slot in range(int(first), int(last or first) + 1):
                    owners[slot] = node
        return owners

    @property
    def url(self):
        return "cluster:" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def stop(self, hard=True):
        for n in self.nodes:
            n.stop(hard)

    def start(self):
        for n in self.nodes:
            n.start()
        assert wait_until(self.healthy, 30), "the cluster did not come back"

    def node_of(self, key):
        return self.owners[key_slot(key)]

    def integers(self, commands):
        return [self.node_of(c[1]).integers([c])[0] for c in commands]

    def cli(self, *args):
        return self.node_of(args[1]).cli(*args) if len(args) > 1 else self.nodes[0].cli(*args)


# TRELLIS_E2E_REDIS=cluster runs a scenario against a 3-primary Redis Cluster (ctest label cluster,
# `make test-cluster`) instead of one redis-server.
CLUSTER = os.environ.get("TRELLIS_E2E_REDIS") == "cluster"


def make_redis(workdir):
    """The scenario's Redis: one server, or a cluster under TRELLIS_E2E_REDIS=cluster."""
    return RedisCluster(workdir) if CLUSTER else Redis(workdir)


def redis_flags(target):
    """Service flags for a Redis `url`: --redis_url, or --redis_cluster for "cluster:<seeds>"."""
    if target.startswith("cluster:"):
        return [f"--redis_cluster={target[len('cluster:'):]}"]
    return [f"--redis_url={target}"]


SECRET = "e2e-test-secret-0123456789abcdef0123456789"

# TRELLIS_E2E_SECURE=1 runs a scenario as production would: every Suite service serves mutual TLS
# and verifies ES256 tokens against a JWKS file, and token() mints ES256 tokens.
SECURE = os.environ.get("TRELLIS_E2E_SECURE") == "1"


class SigningKey:
    """An ES256 key pair and its JWKS, as an identity provider publishes them (made with Debian's
    python3-cryptography). One per test process."""

    KID = "e2e-es256"
    _instance = None

    def __init__(self):
        import base64
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        key = ec.generate_private_key(ec.SECP256R1())
        nums = key.public_key().public_numbers()

        def b64(n):
            return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
        self.jwks = {"keys": [{"kty": "EC", "crv": "P-256", "x": b64(nums.x), "y": b64(nums.y),
                               "kid": self.KID, "alg": "ES256", "use": "sig"}]}
        self.pem = key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = SigningKey()
        return cls._instance

    def service_args(self, workdir):
        """Flags verifying tokens with this JWKS and signing service tokens with the key."""
        jwks_path = os.path.join(workdir, "jwks.json")
        key_path = os.path.join(workdir, "service-key.pem")
        with open(jwks_path, "w") as f:
            json.dump(self.jwks, f)
        with open(key_path, "wb") as f:
            f.write(self.pem)
        os.chmod(key_path, 0o600)
        return [f"--auth_jwks_file={jwks_path}", f"--auth_service_key_file={key_path}",
                f"--auth_service_key_id={self.KID}"]


def token(tenant="t1", sub="clin-1", role="clinician", patient=None, ttl=3600, secret=SECRET):
    """A bearer token as the integrating platform would mint it (Debian's python3-jwt): HS256 with
    the test secret, or ES256 with the SigningKey when the run is SECURE."""
    import jwt
    now = int(time.time())
    claims = {"iss": "trellis", "aud": "trellis", "sub": sub, "tenant": tenant, "role": role,
              "iat": now, "exp": now + ttl}
    if patient:
        claims["patient"] = patient
    if SECURE and secret == SECRET:
        return jwt.encode(claims, SigningKey.get().pem, algorithm="ES256",
                          headers={"kid": SigningKey.KID})
    return jwt.encode(claims, secret, algorithm="HS256")


def auth(tok):
    return (("authorization", f"Bearer {tok}"),)


def practice_reminder(goal, patient="p1"):
    """A daily 20:00 practice reminder for `goal`, starting tomorrow."""
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    return R.Reminder(
        patient=patient, goal=goal, kind=R.REMINDER_KIND_PRACTICE, text="Breathing practice",
        schedule=R.Schedule(
            start=common_pb2.LocalDateTime(year=tomorrow.year, month=tomorrow.month,
                                           day=tomorrow.day, hours=20),
            time_zone="Europe/London", rrule="FREQ=DAILY"))


def openssl(workdir, *args):
    subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True, timeout=30)


class Pki:
    """A CA and one certificate it signs for 127.0.0.1 and localhost, good for both server and
    client authentication, made with the openssl command line in `workdir`."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pki")
        os.makedirs(self.dir, exist_ok=True)
        p = lambda name: os.path.join(self.dir, name)  # noqa: E731
        self.ca, self.cert, self.key = p("ca.pem"), p("service.pem"), p("service.key")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl(self.dir, "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", self.ca, "-days",
                "2", "-subj", "/CN=trellis-e2e-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(p("service.ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl(self.dir, "req", "-new", *ec, "-keyout", self.key, "-out", p("service.csr"),
                "-subj", "/CN=trellis-e2e")
        openssl(self.dir, "x509", "-req", "-in", p("service.csr"), "-CA", self.ca, "-CAkey",
                p("ca.key"), "-days", "2", "-extfile", p("service.ext"), "-out", self.cert)

    def mutual_tls_args(self):
        """Flags for a service serving mutual TLS with this certificate, and calling its peers
        with it."""
        return [f"--tls_cert_file={self.cert}", f"--tls_key_file={self.key}",
                f"--tls_client_ca_file={self.ca}", "--tls_reload_interval=1s"]

    def client_credentials(self):
        """grpcio credentials trusting the CA and presenting the certificate."""
        def read(path):
            with open(path, "rb") as f:
                return f.read()
        return grpc.ssl_channel_credentials(root_certificates=read(self.ca),
                                            private_key=read(self.key),
                                            certificate_chain=read(self.cert))


class Service:
    """One real service binary on a free port, its JSON log in a file. With `credentials` (e.g.
    Pki.client_credentials()) its channel is secure."""

    def __init__(self, name, workdir, redis_url, extra_args=(), port=0, credentials=None):
        secret_path = os.path.join(workdir, "secret")
        with open(secret_path, "w") as f:
            f.write(SECRET)
        self.name = name
        # Given a JWKS, a service trusts only it (no HS256 secret), as in production.
        jwks_only = any(a.startswith("--auth_jwks_file=") for a in extra_args)
        self.log_path = os.path.join(workdir, f"{name}-{time.monotonic_ns()}.log")
        self.err_path = os.path.join(workdir, f"{name}.err")
        self.proc = subprocess.Popen(
            [BINARIES[name], "--listen_host=127.0.0.1", f"--port={port}", "--metrics_port=0",
             *redis_flags(redis_url), "--health_interval=100ms",
             *([] if jwks_only else [f"--auth_hs256_secret_file={secret_path}"]), *extra_args],
            stdout=open(self.log_path, "w"), stderr=open(self.err_path, "w"))
        line = wait_until(lambda: self._find_log("listening"), 20)
        assert line, f"{name} did not start: {open(self.err_path).read()}"
        self.port = line["port"]
        self.metrics_port = line["metrics_port"]
        self.address = f"127.0.0.1:{self.port}"
        self.channel = (grpc.secure_channel(self.address, credentials) if credentials
                        else grpc.insecure_channel(self.address))

    def _find_log(self, msg):
        try:
            with open(self.log_path) as f:
                for raw in f:
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        continue
                    if line.get("msg") == msg:
                        return line
        except OSError:
            pass
        return None

    def log_lines(self):
        with open(self.log_path) as f:
            return [json.loads(raw) for raw in f if raw.strip()]

    def metrics(self):
        """The text of one scrape of the service's /metrics endpoint."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def health(self, service=""):
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        except grpc.RpcError as e:
            return e.code().name

    def wait_health(self, want, service="", limit=15.0):
        return wait_until(lambda: self.health(service) == want, limit) and want

    def reflection_services(self):
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        for resp in stub.ServerReflectionInfo(iter([req]), timeout=5):
            return sorted(s.name for s in resp.list_services_response.service)
        return []

    def stop(self, sig=signal.SIGTERM, limit=20):
        self.channel.close()
        self.proc.send_signal(sig)
        return self.proc.wait(limit)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ServicesTestCase(unittest.TestCase):
    """A test with its own temp dir and Redis; start() runs a service binary, killed after the
    test."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="trellis-e2e-")
        self.redis = make_redis(self.workdir)
        self.services = []

    def tearDown(self):
        for s in self.services:
            s.kill()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, name, extra=(), port=0, credentials=None):
        """Starts `name` and waits until it is SERVING."""
        svc = Service(name, self.workdir, self.redis.url, extra, port=port,
                      credentials=credentials)
        self.services.append(svc)
        self.assertEqual(svc.wait_health("SERVING"), "SERVING", name)
        return svc


class Suite:
    """Redis plus the three services; use as a context manager."""

    def __init__(self, names=("goals", "measurements", "reminders")):
        self.names = names

    def __enter__(self):
        self.workdir = tempfile.mkdtemp(prefix="trellis-e2e-")
        self.redis = make_redis(self.workdir)
        extra, credentials = [], None
        if SECURE:
            pki = Pki(self.workdir)
            extra = [*pki.mutual_tls_args(), *SigningKey.get().service_args(self.workdir)]
            credentials = pki.client_credentials()
        self.services = {n: Service(n, self.workdir, self.redis.url, extra,
                                    credentials=credentials) for n in self.names}
        return self

    def __exit__(self, *exc):
        for s in self.services.values():
            s.kill()
        self.redis.stop()
        if exc[0] is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"e2e: logs kept in {self.workdir}", file=sys.stderr)
        return False
