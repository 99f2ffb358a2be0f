"""Schemathesis against `/openapi.json` of the served API (real ClickHouse server store): for every
operation, generated valid and invalid requests never get a server error (5xx)."""
from __future__ import annotations

import uuid
from collections import Counter

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from explorer import openapi
from explorer.api import create_api
from explorer.remediation_service import RemediationService
from explorer.audit import AuditLog
from explorer.auth import TokenStore
from tests.contract.conftest import mail_corpus
from tests.explorer_harness import ServedApp

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def served_api(services, tmp_path_factory):
    from projections.server_store import ClickHouseServerStore
    store = ClickHouseServerStore(services)
    tenant = f"t-schema-{uuid.uuid4().hex[:8]}"
    events, states = mail_corpus(tenant)
    store.write(events, list(states.values()))
    state = tmp_path_factory.mktemp("schema-state")
    tokens = TokenStore.in_state_dir(state)
    # an admin reaches every operation, the acting ones included: requests go through the real
    # remediation flow (commands to the session's worker), which answers for unknown copies too
    token, _ = tokens.create("schemathesis", tenant, "admin")
    flow = RemediationService(services, ClickHouseServerStore(services))
    app = create_api(services, store, flow, tokens, AuditLog.in_state_dir(state))
    with ServedApp(app) as served:
        yield served.url, token
    store.close()


OPERATIONS = [(operation["operationId"], mode) for path in openapi.document()["paths"].values()
              for operation in path.values()
              for mode in GenerationMode
              # an operation without inputs has nothing to make invalid
              if mode == GenerationMode.POSITIVE or "parameters" in operation or "requestBody" in operation]


@pytest.fixture(scope="module")
def api_schema(served_api):
    url, _ = served_api
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


STATUSES: Counter = Counter()


@pytest.mark.parametrize("operation_id, mode", OPERATIONS, ids=[f"{o}-{m}" for o, m in OPERATIONS])
def test_no_generated_request_gets_a_server_error(api_schema, served_api, operation_id, mode):
    """Valid (positive) and invalid (negative) requests for each operation."""
    url, token = served_api
    operation = api_schema.find_operation_by_id(operation_id)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def no_server_error(case):
        response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"})
        STATUSES[(operation_id, str(mode), response.status_code)] += 1
        case.validate_response(response, checks=[not_a_server_error])

    no_server_error()
    # the run reached the handlers: some generated request was answered other than 401
    assert any(status != 401 for (op, m, status) in STATUSES if (op, m) == (operation_id, str(mode)))
