"""Schemathesis against the service's own OpenAPI: no input makes it answer 5xx.

Each operation gets a bounded number of generated requests, conforming to the schema and
deliberately not (wrong types, missing and extra fields, odd unicode, out-of-range numbers),
and every answer must be a 2xx/4xx, never a server error. (schemathesis' pytest plugin does not
run under pytest 9, so the operations are driven with hypothesis directly.)
"""

from __future__ import annotations

from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from assay.api.settings import Settings
from assay.engine.store.roles import ROLES
from tests.servers import live_api

EXAMPLES_PER_OPERATION = 25


def test_no_input_causes_a_server_error(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        results = list(schema.get_all_operations())
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) == len(results), "the OpenAPI document has invalid operations"
        assert {op.path for op in operations} >= {"/v1/screen", "/v1/screen/batch", "/v1/rules"}
        statuses: Counter[int] = Counter()
        for operation, mode in product(operations, list(GenerationMode)):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                # The first role the operation accepts (a fresh key each time: the generated
                # calls to DELETE /v1/keys/{id} may revoke the keys of earlier calls).
                for role in ROLES:
                    key = server.service.keys.create(role, "fuzz")
                    headers = {"Authorization": f"Bearer {key}"}
                    response = case.call(base_url=server.url, timeout=30, headers=headers)
                    if response.status_code != 403:
                        break
                statuses[response.status_code] += 1
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} answered {response.status_code}: "
                    f"{response.text[:500]}"
                )

            try:
                call()
            except Unsatisfiable:
                # Nothing to get wrong: the operation takes no parameters and no body.
                assert mode is GenerationMode.NEGATIVE, operation.path
                assert not operation.body and not operation.query, operation.path
    # Both kinds of input were really sent: screened manifests and rejected ones.
    assert statuses[200] > 0 and statuses[422] > 0, statuses
