"""Free loopback ports for test servers whose port must be known before they start (peers name
each other on the command line; redis-server cannot report a port 0 bind).

A port from bind(0) comes from the kernel's ephemeral range, the same range every outbound
connection on the machine draws its local port from, so between picking it and the server's bind
another test's client may take it ("Address already in use"; CI saw this). Ports here come from
below that range instead, and each is held with an flock on a file in a shared directory for the
life of the picking process, so concurrent tests (C++ ones pick the same way, in
tests/support/redis_server.cc) never hand out the same port twice.
"""
import fcntl
import os
import random
import socket

LOCK_DIR = "/tmp/trellis-test-ports"
LOWEST = 15000
_held = []  # open lock files; closing one would release its port


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback port that binds now, is outside the ephemeral range and is reserved for this
    process."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    high = _ephemeral_low()
    if high - LOWEST < 1000:  # an unusual ip_local_port_range: fall back to the kernel's choice
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(LOWEST, high)
        lock = open(os.path.join(LOCK_DIR, str(port)), "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                lock.close()
                continue
        _held.append(lock)
        return port
    raise RuntimeError("no free loopback port found below the ephemeral range")
