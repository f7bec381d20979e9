#!/usr/bin/python3
"""Checks Trellis services: gRPC health (overall and per service) and the services that
reflection lists. Uses Debian's python3-grpcio and the stubs the build generates in build/py.

  /usr/bin/python3 tools/probe.py [--wait SECONDS] [--build-dir build] HOST:PORT...

Exit status 0 when every address is SERVING, 1 otherwise.
"""
import argparse
import os
import sys
import time


def load_stubs(build_dir):
    sys.path.insert(0, os.path.join(build_dir, "py"))
    import grpc  # noqa: F401
    from health.v1 import health_pb2, health_pb2_grpc
    from reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    return health_pb2, health_pb2_grpc, reflection_pb2, reflection_pb2_grpc


def health(channel, stubs, service=""):
    import grpc
    health_pb2, health_pb2_grpc, _, _ = stubs
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    except grpc.RpcError as e:
        return e.code().name


def list_services(channel, stubs):
    _, _, reflection_pb2, reflection_pb2_grpc = stubs
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    for resp in stub.ServerReflectionInfo(iter([req]), timeout=5):
        return sorted(s.name for s in resp.list_services_response.service)
    return []


def main():
    import grpc
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for SERVING")
    parser.add_argument("--build-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build"))
    parser.add_argument("addresses", nargs="+")
    args = parser.parse_args()
    stubs = load_stubs(args.build_dir)
    ok = True
    for addr in args.addresses:
        channel = grpc.insecure_channel(addr)
        deadline = time.monotonic() + args.wait
        status = health(channel, stubs)
        while status != "SERVING" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = health(channel, stubs)
        services = list_services(channel, stubs) if status == "SERVING" else []
        print(f"{addr}  health={status}  services={','.join(services)}")
        ok = ok and status == "SERVING"
        channel.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
