"""Schemathesis with schema-INVALID input over every operation: whatever a client sends, no answer is a 5xx.

test_schema.py sends what the schema allows and checks every answer against it; this one breaks the schema on
purpose (wrong types, missing required fields, out-of-range values, odd strings in the path and the query), as a
hostile client would, and checks only that no answer is a server error. Bounded: MAX_EXAMPLES per operation.
"""

# The fixtures (demo data, the in-process client) are test_schema.py's, imported by name.
# ruff: noqa: F811

import hypothesis
import hypothesis.errors
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase
from rest_framework.test import APIClient
from schemathesis.generation import GenerationMode

from tests.api.test_schema import MAX_EXAMPLES, demo, in_process_requests, undone  # noqa: F401


def test_every_operation_answers_schema_invalid_input_without_a_server_error(demo):
    headers, issue = demo["staff"]
    failures, exercised, nothing_to_break = [], [], []
    with in_process_requests():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        for result in schema.get_all_operations():
            operation = result.ok()
            known = {"id": str(issue.pk)} if operation.path.startswith("/api/v1/issues/{id}") else None

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known))
            def check(case):
                with undone():
                    case.call_and_validate(headers=headers, checks=[schemathesis.checks.not_a_server_error])

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                nothing_to_break.append(operation.label)  # no parameter or body the schema constrains
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collect every operation's failures
                failures.append(f"{operation.label}: {exc}")
            exercised.append(operation.label)

    assert not failures, "\n\n".join(failures)
    assert len(nothing_to_break) < len(exercised) / 2, nothing_to_break  # most operations did get broken input
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]
    assert set(exercised) == {f"{m.upper()} {p}" for p, item in paths.items() for m in item}
