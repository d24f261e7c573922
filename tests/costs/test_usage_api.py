"""POST /api/v1/usage: metered usage from teams' own gateways; all rows or none."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from portal.audit.models import AuditEntry
from portal.costs.models import UsageRecord
from tests.costs.conftest import bill_csv, bill_row, usage_row

DAY = "2026-03-10"


def post(api_client, user, rows):
    return api_client(user).post("/api/v1/usage", rows)


def test_rows_are_accepted_costed_and_audited(api_client, admin, workspace_a, workspace_b):
    key = workspace_a.api_keys.get()
    rows = [
        usage_row(
            workspace_a,
            DAY,
            tokens_in=1_000_000,
            tokens_out=500_000,
            requests=10,
            key_fingerprint=key.fingerprint,
        ),
        usage_row(workspace_b, DAY, tokens_in=10, tokens_out=5),
    ]
    response = post(api_client, admin, rows)
    assert response.status_code == 201 and response.json() == {"accepted": 2}
    record = UsageRecord.objects.get(workspace=workspace_a)
    assert (record.source, record.key_fingerprint, record.cost, record.currency) == (
        "api",
        key.fingerprint,
        Decimal("1.8"),
        "CNY",
    )
    assert AuditEntry.objects.filter(target_repr__contains="usage ingested").count() == 2


def test_sending_a_day_again_replaces_it(api_client, admin, workspace_a):
    post(api_client, admin, [usage_row(workspace_a, DAY, tokens_in=100, requests=1)])
    post(api_client, admin, [usage_row(workspace_a, DAY, tokens_in=300, requests=3)])
    record = UsageRecord.objects.get(workspace=workspace_a)
    assert (record.input_tokens, record.requests) == (300, 3)


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"workspace": "nope"}, "workspace", "No workspace 'nope'"),
        ({"model": "qwen-pluss"}, "model", "not in the model catalog"),
        ({"date": "10/03/2026"}, "date", "YYYY-MM-DD"),
        ({"date": "2026-02-30"}, "date", "YYYY-MM-DD"),
        ({"date": (date.today() + timedelta(days=5)).isoformat()}, "date", "in the future"),
        ({"input_tokens": -1}, "input_tokens", "cannot be negative"),
        ({"output_tokens": 1.5}, "output_tokens", "whole number"),
        ({"requests": "3"}, "requests", "whole number"),
        ({"requests": True}, "requests", "whole number"),
        ({"input_tokens": 10**30}, "input_tokens", "larger than"),
        ({"cached_input_tokens": 10**9}, "cached_input_tokens", "More cached"),
        ({"batch": "yes"}, "batch", "true or false"),
        ({"key_fingerprint": "sk-…dead · 000000"}, "key_fingerprint", "No key of team-a"),
        ({"input_token": 5}, "input_token", "Unknown field"),
        ({"model": None}, "model", "required"),
    ],
)
def test_any_bad_row_is_a_400_naming_row_and_field_and_nothing_is_stored(
    api_client, admin, workspace_a, change, field, message
):
    good = usage_row(workspace_a, DAY, tokens_in=1, requests=1)
    bad = {**usage_row(workspace_a, "2026-03-11", tokens_in=1, requests=1), **change}
    response = post(api_client, admin, [good, bad])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(e["row"] == 1 and e["field"] == field and message in e["message"] for e in errors), (
        errors
    )
    assert UsageRecord.objects.count() == 0


def test_a_row_repeated_in_one_request_is_refused(api_client, admin, workspace_a):
    row = usage_row(workspace_a, DAY, tokens_in=1)
    errors = post(api_client, admin, [row, row]).json()["errors"]
    assert errors == [{"row": 1, "field": "__all__", "message": errors[0]["message"]}]
    assert "Repeats row 0" in errors[0]["message"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"workspace": "team-a"}', "JSON array"),
        (b"[]", "at least one"),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_a_body_that_is_not_rows_is_a_400_in_the_same_shape(client, admin, body, message):
    from portal.accounts.models import ApiToken

    _, token = ApiToken.issue(admin, "t")
    response = client.post(
        "/api/v1/usage", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400
    assert message in json.dumps(response.json()["errors"])


def test_too_many_rows_are_refused(api_client, admin, workspace_a):
    rows = [usage_row(workspace_a, DAY, requests=n) for n in range(10_001)]
    response = post(api_client, admin, rows)
    assert (
        response.status_code == 400
        and "At most 10,000 rows" in response.json()["errors"][0]["message"]
    )


def test_a_day_the_bill_covers_is_counted_from_the_bill(
    api_client, admin, workspace_a, import_bill
):
    import_bill(bill_csv([bill_row(workspace_a, day=DAY, amount="5.00", usage="1000")]))
    post(api_client, admin, [usage_row(workspace_a, DAY, tokens_in=1_000_000, requests=10)])
    metered = UsageRecord.objects.get(source="api")
    assert metered.superseded
    body = api_client(admin).get("/api/v1/costs", start=DAY, end=DAY).json()
    team_a = next(w for w in body["workspaces"] if w["slug"] == "team-a")
    # The bill's money and tokens; the metered requests (the bill does not count requests).
    assert (team_a["cost"], team_a["input_tokens"], team_a["requests"]) == ("5.000000", 1000, 10)


@pytest.mark.parametrize("who, status", [("ops", 403), ("lead_a", 403), (None, 401)])
def test_only_admins_send_usage(request, api_client, workspace_a, who, status):
    user = request.getfixturevalue(who) if who else None
    assert post(api_client, user, [usage_row(workspace_a, DAY)]).status_code == status
    assert UsageRecord.objects.count() == 0
