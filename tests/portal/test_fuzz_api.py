"""Schema-driven fuzzing of the whole JSON API: Schemathesis generates requests from
/api/v1/openapi.json (valid ones and ones that break the schema) and sends them to a live test
server on loopback, with a token of each role.

For every operation and every generated request:
- no 5xx;
- the status code, content type and body are the ones the schema documents (every 4xx is the
  JSON the README promises: 400 `{"errors": {...}}`, others `{"detail": ...}`);
- a refused request (any 4xx) changes nothing: every table's rows and the audit log are the same
  before and after.

Bounded to run in a few minutes on two cores: a fixed number of examples per operation and
role, derandomized (the same examples every run, so it cannot flake), no deadline; each role's
run starts from the same database (a transactional test, flushed and re-seeded after).
Path parameters and the natural keys in bodies are sometimes replaced by rows that exist, so
the fuzzer gets past "not found" into the rules.
"""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from portal.accounts.models import ApiToken
from tests.conftest import random_key
from tests.snapshot import database_state

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROLES = ["admin", "ops", "lead", "anon"]
# Examples per operation (positive and negative generation together). The admin may do
# everything, so its requests go deepest; the others are mostly refused early.
EXAMPLES = {"admin": 40, "ops": 12, "lead": 12, "anon": 4}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def fuzz_world(admin, ops, lead_a, workspace_a, workspace_b, make_vpc, make_endpoint, celery_queue):
    vpc = make_vpc()
    make_vpc("vpc-spare001")
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True)
    tokens = {}
    for role, user in (("admin", admin), ("ops", ops), ("lead", lead_a)):
        tokens[role] = ApiToken.issue(user, "fuzz")[1]
    real = {
        "path": {
            "endpoint_id": [endpoint.pk],
            "slug": ["team-a", "team-b"],
            "vpc_id": ["vpc-bjtest01", "vpc-spare001"],
            "key_id": [workspace_a.api_keys.get().pk],
        },
        "body": {
            # natural keys
            "region": ["cn-beijing", "ap-southeast-1"],
            "service_region": ["ap-southeast-1", None],
            "vpc": ["vpc-bjtest01"],
            "endpoint_vpc": ["vpc-spare001", None],
            "workspace": ["team-a", "team-b"],
            "check_model": ["qwen-plus", None],
            "eas_token": [None],
            "connected_vpcs": [["vpc-spare001"]],
            "models": [["qwen-plus"], ["qwen-max", "qwen-plus"]],
            # values the rules accept, so that a whole body is sometimes valid
            "kind": ["privatelink_default"],
            "url": ["http://ep-fuzz0001.dashscope.cn-beijing.privatelink.aliyuncs.com"],
            "zones": [["cn-beijing-a", "cn-beijing-b"]],
            "security_group": ["sg-fuzz0001"],
            "allows_80_443": [True],
            "api_style": ["openai"],
            "interval_s": [60],
            "latency_threshold_ms": [3000],
            "vpc_id": ["vpc-fuzz0001"],
            "cidr": ["10.200.0.0/16"],
            "resolver": ["100.100.2.136"],
            "host_overrides": [{}, {"ep-fuzz.example": "10.200.0.5"}],
            "slug": ["fuzz-team"],
            "workspace_id": ["llm-fuzz0001"],
            "scope": ["mainland"],
            "currency": ["CNY"],
            "is_default": [False],
            "monthly_budget": [100.0],
            "label": ["fuzz key"],
            "secret": [random_key()],
        },
    }
    yield {"tokens": tokens, "real": real}
    _purge(celery_queue)


def _purge(queue):
    """Drop the probe batches the fuzzed 202s queued (no worker consumes this test's queue)."""
    from portal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
    except Exception:  # noqa: S110 - a queue never declared has nothing to purge
        pass


def _mix(generated, choices):
    """The generated value, or (three times as likely) one that exists or that the rules accept."""
    return st.sampled_from([generated, *(choices * 3)])


def load_schema(live_server, fuzz_world):
    """The schema as the server documents it, with a hook that sometimes swaps in rows that
    exist for path parameters and the natural keys of a body, where that part of the request
    is meant to be valid (a negative case keeps the value that breaks the schema)."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    # The token is ours to send (below); generating Authorization headers would only test 401s.
    schema.config.generation.update(with_security_parameters=False)
    real = fuzz_world["real"]

    def valid(case, location):
        info = (case._meta.components if case._meta else {}).get(location)
        return info is None or info.mode == GenerationMode.POSITIVE

    def mixed(values, choices):
        return st.fixed_dictionaries(
            {name: _mix(value, choices.get(name, [])) for name, value in values.items()}
        )

    @schema.hook
    def flatmap_case(context, case):
        path = case.path_parameters or {}
        body = case.body
        paths = mixed(path, real["path"]) if valid(case, ParameterLocation.PATH) else st.just(path)
        bodies = (
            mixed(body, real["body"])
            if isinstance(body, dict) and valid(case, ParameterLocation.BODY)
            else st.just(body)
        )
        return st.tuples(paths, bodies).map(lambda chosen: _apply(case, *chosen))

    return schema


def _apply(case, path, body):
    case.path_parameters = path
    if isinstance(body, dict):
        case.body = body
    return case


def check(case, headers, seen):
    """One generated request: sent, validated against the schema, and (refused) harmless."""
    before = database_state()
    response = case.call(headers=headers)
    seen.setdefault(case.operation.label, Counter())[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)
    status = response.status_code
    if 400 <= status < 500:
        body = response.json()
        expected = {"errors"} if status == 400 else {"detail"}
        assert set(body) == expected, (status, body)
        assert database_state() == before, f"a refused request ({status}) changed the database"


@pytest.mark.parametrize("role", ROLES)
def test_the_api_survives_fuzzing(role, live_server, fuzz_world):
    schema = load_schema(live_server, fuzz_world)
    headers = {}
    if role != "anon":
        headers["Authorization"] = f"Bearer {fuzz_world['tokens'][role]}"
    failures, seen = {}, {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")  # deletes last
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES[role],
                derandomize=True,  # the same examples every run: no flakes
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # report a failure as found, unshrunk
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                check(case, headers, seen)

            try:
                fuzz()
            except Unsatisfiable:  # nothing about this operation can break its schema
                continue
            except Exception as exc:  # collected: every failing operation is reported at once
                failures[f"{mode.value} {operation.label}"] = exc
    for label, statuses in sorted(seen.items()):
        print(role, label, dict(sorted(statuses.items())))
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
