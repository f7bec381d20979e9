"""End-to-end goal scenario from Python against the real trellis-goals binary: propose a vague
goal, read the SMART findings, fix it, activate it, add two objectives, update it, read the
history, and export FHIR R4 (validated with two independent FHIR validators)."""
import datetime
import json
import os
import subprocess
import tempfile
import unittest

import grpc

from harness import SECRET, SECURE, Suite, SigningKey, auth, token
from trellis.v1 import common_pb2, goals_pb2, goals_pb2_grpc

FHIR_VALIDATOR = os.path.join(os.path.dirname(__file__), "..", "fhir", "validate.js")
G = goals_pb2


def forged_es256_token():
    """An ES256 token with the JWKS key's kid, signed by some other key."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    other = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": "trellis", "aud": "trellis", "sub": "x", "tenant": "t1",
              "role": "clinician", "exp": 4102444800}
    return jwt.encode(claims, other, algorithm="ES256", headers={"kid": SigningKey.KID})


def date_in(days):
    """A calendar date relative to today: the binary runs on the real clock, so the test's dates
    move with it instead of expiring."""
    d = datetime.date.today() + datetime.timedelta(days=days)
    return common_pb2.LocalDate(year=d.year, month=d.month, day=d.day)


class GoalScenarioTest(unittest.TestCase):
    def test_vague_goal_becomes_a_smart_plan_with_history_and_fhir_export(self):
        with Suite(names=("goals",)) as suite:
            svc = suite.services["goals"]
            self.assertEqual(svc.wait_health("SERVING"), "SERVING")
            stub = goals_pb2_grpc.GoalServiceStub(svc.channel)
            clinician = auth(token(role="clinician", sub="dr-lee"))
            client = auth(token(role="client", sub="app-user-7", patient="p7"))

            # The client proposes a goal in their own words.
            draft = stub.CreateGoal(G.CreateGoalRequest(
                goal=G.Goal(patient="p7", title="Feel less anxious"), request_id="draft-1"),
                metadata=client, timeout=10)
            self.assertEqual(draft.lifecycle_status, G.GOAL_LIFECYCLE_STATUS_PROPOSED)

            # SMART findings: one per letter, and a concrete rewrite for the vague wording.
            findings = stub.EvaluateSmart(G.EvaluateSmartRequest(goal=draft), metadata=clinician,
                                          timeout=10)
            self.assertFalse(findings.passes)
            self.assertEqual({f.letter for f in findings.findings},
                             {G.SMART_LETTER_SPECIFIC, G.SMART_LETTER_MEASURABLE,
                              G.SMART_LETTER_ACHIEVABLE, G.SMART_LETTER_RELEVANT,
                              G.SMART_LETTER_TIME_BOUND})
            specific = [f for f in findings.findings if f.letter == G.SMART_LETTER_SPECIFIC]
            self.assertIn("breathing exercises for 15 minutes daily", specific[0].suggestion)

            # Activating the vague draft is refused with a structured reason.
            with self.assertRaises(grpc.RpcError) as refused:
                stub.TransitionGoal(G.TransitionGoalRequest(
                    name=draft.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_ACTIVE,
                    reason="agreed in session", etag=draft.etag), metadata=clinician, timeout=10)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)

            # Fix it together: concrete, measured, achievable, relevant, time-bound.
            fixed = G.Goal(
                name=draft.name,
                title="Reduce GAD-7 score from 15 to 7",
                description="Practise breathing exercises for 15 minutes daily and complete a "
                            "GAD-7 every two weeks",
                category=G.GOAL_CATEGORY_SYMPTOM_MANAGEMENT,
                measure=common_pb2.Measure(metric="gad7",
                                           direction=common_pb2.MEASURE_DIRECTION_DECREASE,
                                           baseline=15, target=7),
                start_date=date_in(1), due_date=date_in(91),
                addresses=[G.Concern(text="generalised anxiety")])
            mask = ["title", "description", "category", "measure", "start_date", "due_date",
                    "addresses"]
            from google.protobuf import field_mask_pb2
            updated = stub.UpdateGoal(G.UpdateGoalRequest(
                goal=fixed, update_mask=field_mask_pb2.FieldMask(paths=mask), etag=draft.etag,
                reason="made SMART with the client"), metadata=clinician, timeout=10)
            self.assertEqual(updated.revision, 2)

            active = stub.TransitionGoal(G.TransitionGoalRequest(
                name=updated.name, lifecycle_status=G.GOAL_LIFECYCLE_STATUS_ACTIVE,
                reason="agreed in session", etag=updated.etag), metadata=clinician, timeout=10)
            self.assertEqual(active.goal.lifecycle_status, G.GOAL_LIFECYCLE_STATUS_ACTIVE)

            # Two short-term objectives under it.
            objectives = []
            for title in ("Practise box breathing for 10 minutes every evening",
                          "Complete a GAD-7 every two weeks"):
                objectives.append(stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
                    patient="p7", parent=active.goal.name, title=title,
                    category=G.GOAL_CATEGORY_BEHAVIOURAL_CHANGE)), metadata=clinician,
                    timeout=10))
            parent = stub.GetGoal(G.GetGoalRequest(name=active.goal.name), metadata=client,
                                  timeout=10)
            self.assertEqual(set(parent.objectives), {o.name for o in objectives})

            # A later update, then the full history, newest first.
            later = stub.UpdateGoal(G.UpdateGoalRequest(
                goal=G.Goal(name=parent.name, priority=G.GOAL_PRIORITY_HIGH),
                update_mask=field_mask_pb2.FieldMask(paths=["priority"]), etag=parent.etag,
                reason="priority raised at review"), metadata=clinician, timeout=10)
            history = stub.ListGoalRevisions(G.ListGoalRevisionsRequest(name=later.name),
                                             metadata=clinician, timeout=10)
            kinds = [r.kind for r in history.revisions]
            self.assertEqual(kinds, [G.GOAL_REVISION_KIND_UPDATE, G.GOAL_REVISION_KIND_TRANSITION,
                                     G.GOAL_REVISION_KIND_UPDATE, G.GOAL_REVISION_KIND_CREATE])
            self.assertEqual(list(history.revisions[0].changed_fields), ["priority"])
            self.assertEqual(history.revisions[3].snapshot.title, "Feel less anxious")

            # FHIR R4 export, checked by real validators.
            export = stub.ExportGoalsFhir(G.ExportGoalsFhirRequest(patient="p7"),
                                          metadata=clinician, timeout=10)
            self.assertEqual(export.goal_count, 3)
            bundle = json.loads(export.bundle_json)
            self.assertEqual(bundle["resourceType"], "Bundle")
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                f.write(export.bundle_json)
            try:
                result = subprocess.run(["node", FHIR_VALIDATOR, f.name], capture_output=True,
                                        text=True, timeout=120)
            finally:
                os.unlink(f.name)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

            # Another tenant cannot see any of it.
            with self.assertRaises(grpc.RpcError) as other:
                stub.GetGoal(G.GetGoalRequest(name=parent.name),
                             metadata=auth(token(tenant="t2")), timeout=10)
            self.assertEqual(other.exception.code(), grpc.StatusCode.NOT_FOUND)

            if SECURE:
                # The services trust only the JWKS: an HS256 token (even with the secret other
                # runs use), or one signed by another key under the JWKS key's kid, is refused.
                import jwt
                hs256 = jwt.encode({"iss": "trellis", "aud": "trellis", "sub": "x",
                                    "tenant": "t1", "role": "clinician", "exp": 4102444800},
                                   SECRET, algorithm="HS256")
                for bad in (hs256, forged_es256_token()):
                    with self.assertRaises(grpc.RpcError) as refused:
                        stub.GetGoal(G.GetGoalRequest(name=parent.name), metadata=auth(bad),
                                     timeout=10)
                    self.assertEqual(refused.exception.code(),
                                     grpc.StatusCode.UNAUTHENTICATED)


if __name__ == "__main__":
    unittest.main()
