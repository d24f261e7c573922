"""Secrets are encrypted at rest, shown once at most, and never rendered, returned or logged."""

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from endpoints.network.models import Endpoint
from portal.crypto import SecretUnavailable
from portal.logging import redact
from portal.workspaces.models import ApiKey, EasToken
from tests.conftest import random_key


def all_database_text() -> str:
    """Every row of every table, as text: a secret must not be anywhere in it."""
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from the app registry
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.fixture
def secrets_added(client_for, api_client, admin, workspace_a, make_vpc, caplog):
    """One key through the form, one through the API, one EAS token through the endpoint API."""
    caplog.set_level(logging.DEBUG)
    form_secret, api_secret, eas_secret = random_key(), random_key(), "ZGI1YWYx" + random_key()[3:]
    client = client_for(admin)
    response = client.post(
        "/workspaces/team-a/keys/", {"label": "from the form", "secret": form_secret}
    )
    assert response.status_code == 200
    api = api_client(admin)
    response = api.post(
        "/api/v1/workspaces/team-a/keys",
        json.dumps({"label": "from the api", "secret": api_secret}),
    )
    assert response.status_code == 201
    api_answers = [response.content.decode()]
    vpc = make_vpc("vpc-hz0secret", region="cn-hangzhou")
    response = api.post(
        "/api/v1/endpoints",
        json.dumps(
            {
                "name": "eas",
                "kind": "eas_vpc",
                "url": "http://1234.vpc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/svc",
                "region": "cn-hangzhou",
                "vpc": vpc.vpc_id,
                "eas_token": eas_secret,
            }
        ),
    )
    assert response.status_code == 201, response.content
    api_answers.append(response.content.decode())
    # A failed attempt with a secret in the body must not echo it either.
    bad = api.post(
        "/api/v1/workspaces/team-a/keys", json.dumps({"label": "", "secret": form_secret + " x"})
    )
    api_answers.append(bad.content.decode())
    return {
        "secrets": [form_secret, api_secret, eas_secret],
        "client": client,
        "api": api,
        "answers": api_answers,
    }


def test_no_page_shows_a_secret(secrets_added, workspace_a):
    client = secrets_added["client"]
    endpoint = Endpoint.objects.get(name="eas")
    key = ApiKey.objects.filter(workspace=workspace_a).first()
    pages = [
        "/workspaces/",
        "/workspaces/team-a/",
        "/workspaces/team-a/edit/",
        "/endpoints/",
        f"/endpoints/{endpoint.pk}/",
        f"/endpoints/{endpoint.pk}/edit/",
        "/probes/",
        "/audit/",
        "/profile/",
        "/admin/workspaces/apikey/",
        f"/admin/workspaces/apikey/{key.pk}/change/",
        f"/admin/workspaces/workspace/{workspace_a.pk}/change/",
        f"/admin/workspaces/eastoken/{endpoint.eas_token_id}/change/",
        "/admin/audit/auditentry/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for secret in secrets_added["secrets"]:
            assert secret not in html, page
            assert secret[3:] not in html, page


def test_no_api_answer_returns_a_secret(secrets_added):
    api = secrets_added["api"]
    endpoint = Endpoint.objects.get(name="eas")
    answers = secrets_added["answers"] + [
        api.get(path).content.decode()
        for path in [
            "/api/v1/workspaces",
            "/api/v1/workspaces/team-a/keys",
            "/api/v1/endpoints",
            f"/api/v1/endpoints/{endpoint.pk}",
            f"/api/v1/endpoints/{endpoint.pk}/snippets",
        ]
    ]
    for answer in answers:
        for secret in secrets_added["secrets"]:
            assert secret not in answer


def test_no_log_line_holds_a_secret(secrets_added, caplog):
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets_added["secrets"]:
        assert secret not in logged


def test_the_database_holds_only_ciphertext(secrets_added):
    everything = all_database_text()
    for secret in secrets_added["secrets"]:
        assert secret not in everything
    for key in ApiKey.objects.all():
        assert key.ciphertext.startswith("gAAAAA")  # a Fernet token
    assert {k.reveal() for k in ApiKey.objects.filter(label__startswith="from the")} == set(
        secrets_added["secrets"][:2]
    )


def test_secrets_stay_out_of_reprs_and_exceptions(workspace_a, settings):
    key = workspace_a.api_keys.get()
    assert workspace_a.plain_key not in repr(key) and workspace_a.plain_key not in str(key)
    settings.PORTAL_SECRET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretUnavailable) as excinfo:
        key.reveal()
    assert workspace_a.plain_key not in str(excinfo.value)
    assert key.ciphertext not in str(excinfo.value)


def test_the_log_filter_masks_anything_that_looks_like_a_secret():
    line = "sent Authorization: Bearer sk-0123456789abcdef0123456789abcdef to host; token ap_abcdefghijklmnopqrstuvwxyz"
    cleaned = redact(line)
    assert "0123456789abcdef" not in cleaned and "abcdefghijklmnopqrstuvwxyz" not in cleaned


def test_rotation_re_encrypts_everything_so_the_old_key_can_go(
    workspace_a, make_workspace, settings
):
    old, new = settings.PORTAL_SECRET_KEYS[0], Fernet.generate_key().decode()
    other = make_workspace("team-c")
    token = EasToken(region_id="cn-hangzhou", label="eas")
    token.set_secret("eas-token-value-123456")
    token.save()
    plain = {
        workspace_a.api_keys.get().pk: workspace_a.plain_key,
        other.api_keys.get().pk: other.plain_key,
    }

    settings.PORTAL_SECRET_KEYS = [new, old]  # the new key first, the old still there
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "Re-encrypted 3 secret(s)" in out.getvalue()

    settings.PORTAL_SECRET_KEYS = [new]  # the old key removed
    for key in ApiKey.objects.all():
        assert key.reveal() == plain[key.pk]
    assert EasToken.objects.get(pk=token.pk).reveal() == "eas-token-value-123456"


def test_rotation_refuses_and_changes_nothing_when_a_key_is_missing(workspace_a, settings):
    before = workspace_a.api_keys.get().ciphertext
    settings.PORTAL_SECRET_KEYS = [
        Fernet.generate_key().decode()
    ]  # the key it was encrypted with is gone
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_secrets", stdout=io.StringIO())
    assert workspace_a.api_keys.get().ciphertext == before


def test_a_secret_is_never_sent_to_the_broker(
    workspace_a, make_vpc, make_endpoint, celery_queue, settings
):
    # Tasks take ids, never secrets: the queued message is checked as it leaves.
    from kombu import Connection

    from endpoints.probes import dispatch
    from endpoints.probes.tasks import fan_out

    vpc = make_vpc()
    make_endpoint(vpc=vpc, workspace=workspace_a)
    token, claimed = dispatch.claim_central()
    fan_out(token, claimed)
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
    ) as conn:
        queue = conn.SimpleQueue(celery_queue)
        message = queue.get(timeout=5)
        raw = message.body.decode() if isinstance(message.body, bytes) else json.dumps(message.body)
        body = raw + json.dumps(message.headers, default=str)
        message.ack()
        queue.close()
    assert str(claimed[0][0]) in body  # the schedule's id, nothing more
    assert workspace_a.plain_key not in body
