#!/usr/bin/python3
"""Walks a SMART goal through GoalService on a running suite (`make run`): create it, check it,
activate it and export it as FHIR R4. Uses Debian's python3-grpcio and python3-jwt and the stubs
the build generates in build/py; mints a development token with the secret `make run` made.

  /usr/bin/python3 tools/goal_demo.py [--address 127.0.0.1:50051] [--patient demo-patient]
"""
import argparse
import datetime
import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--patient", default="demo-patient")
    parser.add_argument("--tenant", default="demo-clinic")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(args.build_dir, "py"))
    import grpc
    import jwt
    from google.protobuf import field_mask_pb2  # noqa: F401
    from trellis.v1 import common_pb2, goals_pb2 as G, goals_pb2_grpc

    secret = open(os.path.join(args.build_dir, "run", "dev-secret")).read().strip()
    now = int(time.time())
    token = jwt.encode({"iss": "trellis", "aud": "trellis", "sub": "demo-clinician",
                        "tenant": args.tenant, "role": "clinician", "iat": now,
                        "exp": now + 3600}, secret, algorithm="HS256")
    md = (("authorization", f"Bearer {token}"),)
    stub = goals_pb2_grpc.GoalServiceStub(grpc.insecure_channel(args.address))

    def day(offset):
        d = datetime.date.today() + datetime.timedelta(days=offset)
        return common_pb2.LocalDate(year=d.year, month=d.month, day=d.day)

    goal = G.Goal(
        patient=args.patient, title="Reduce PHQ-9 score from 18 to 9",
        description="Practise behavioural activation: one planned pleasant activity every day",
        category=G.GOAL_CATEGORY_SYMPTOM_MANAGEMENT, priority=G.GOAL_PRIORITY_HIGH,
        measure=common_pb2.Measure(metric="phq9", direction=common_pb2.MEASURE_DIRECTION_DECREASE,
                                   baseline=18, target=9),
        start_date=day(0), due_date=day(84), addresses=[G.Concern(text="low mood")])
    created = stub.CreateGoal(G.CreateGoalRequest(goal=goal), metadata=md, timeout=10)
    print(f"created   {created.name}  status=proposed  etag={created.etag}")
    smart = stub.EvaluateSmart(G.EvaluateSmartRequest(goal=created), metadata=md, timeout=10)
    for f in smart.findings:
        print(f"  SMART {G.SmartLetter.Name(f.letter)[13:]:<10} "
              f"{G.SmartVerdict.Name(f.verdict)[14:]:<5} {f.message}")
    active = stub.TransitionGoal(G.TransitionGoalRequest(
        name=created.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_ACTIVE,
        reason="agreed with the client", etag=created.etag), metadata=md, timeout=10)
    print(f"activated {active.goal.name}  etag={active.goal.etag}")
    export = stub.ExportGoalsFhir(G.ExportGoalsFhirRequest(patient=args.patient), metadata=md,
                                  timeout=10)
    print(f"FHIR R4 Bundle with {export.goal_count} Goal resource(s):")
    print(json.dumps(json.loads(export.bundle_json), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
