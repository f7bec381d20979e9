#!/usr/bin/python3
"""Mints a development bearer token (HS256) for a local Trellis stack.

Usage: mint_token.py SECRET_FILE [--tenant T] [--role clinician|client|service|admin]
                     [--sub S] [--patient P] [--ttl-hours H]

Prints the token. Production tokens come from the platform's identity provider (RS256/ES256,
verified against the JWKS file the services load); this is for `make run` and local testing.
"""
import argparse
import sys
import time

import jwt  # Debian's python3-jwt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("secret_file")
    p.add_argument("--tenant", default="demo")
    p.add_argument("--role", default="clinician",
                   choices=["clinician", "client", "service", "admin"])
    p.add_argument("--sub", default="")
    p.add_argument("--patient", default="")
    p.add_argument("--ttl-hours", type=float, default=12)
    p.add_argument("--issuer", default="trellis")
    p.add_argument("--audience", default="trellis")
    a = p.parse_args()
    if a.role == "client" and not a.patient:
        p.error("--patient is required for the client role")
    with open(a.secret_file, "rb") as f:
        secret = f.read().rstrip()
    now = int(time.time())
    claims = {"iss": a.issuer, "aud": a.audience, "sub": a.sub or f"dev-{a.role}",
              "tenant": a.tenant, "role": a.role, "iat": now,
              "exp": now + int(a.ttl_hours * 3600)}
    if a.patient:
        claims["patient"] = a.patient
    print(jwt.encode(claims, secret, algorithm="HS256"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
