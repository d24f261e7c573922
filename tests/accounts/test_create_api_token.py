"""create_api_token, as an operator would run it."""

import io

import pytest
from django.core.management import CommandError, call_command


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_token_prints_a_working_token_last(client, ops):
    output = run("create_api_token", ops.username, "--name", "ci")
    token = output.strip().splitlines()[-1]
    assert token.startswith("ap_")
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["username"] == ops.username


def test_create_api_token_for_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user"):
        run("create_api_token", "ghost")
