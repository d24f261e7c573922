"""Two requests registering the same thing at the same moment: the database settles it.

Each request passes the rules' check (the other has not saved yet); the database constraint
refuses the second insert, and the loser gets the same field error as a late one.
"""

import os
import threading

import pytest
from django.core.exceptions import ValidationError

from endpoints.network import services
from endpoints.network.models import Endpoint
from portal.workspaces import services as workspaces
from portal.workspaces.models import ApiKey
from tests.conftest import random_key
from tests.races import race

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="SQLite takes the write lock when a transaction begins: two writes never overlap",
    ),
]
URL = "http://ep-race01.dashscope.cn-beijing.privatelink.aliyuncs.com"


def both_checked_first(monkeypatch, module, name):
    """Let both threads finish the check before either saves (what a real race can do)."""
    real, barrier, seen = getattr(module, name), threading.Barrier(2), threading.local()

    def checked(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        finally:
            if not getattr(seen, "once", False):  # the first check of each thread only
                seen.once = True
                barrier.wait(10)

    monkeypatch.setattr(module, name, checked)


def test_the_same_endpoint_registered_twice_at_once_is_stored_once(
    monkeypatch, admin, workspace_a, make_vpc
):
    vpc = make_vpc()
    both_checked_first(monkeypatch, services, "check_endpoint")

    def register(i):
        endpoint = Endpoint(
            name=f"race {i}",
            kind="privatelink_default",
            url=URL,
            region_id="cn-beijing",
            vpc=vpc,
            workspace=workspace_a,
            zones=["cn-beijing-a", "cn-beijing-b"],
        )
        return services.save_endpoint(endpoint, actor=admin, source="api")

    results = race(2, register)
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(refused) == 1, results
    assert "already registered" in refused[0].message_dict["url"][0]
    assert Endpoint.objects.filter(url=URL).count() == 1


def test_the_same_key_added_twice_at_once_is_stored_once(monkeypatch, admin, workspace_a):
    secret = random_key()
    both_checked_first(monkeypatch, workspaces, "stored_copy")
    results = race(2, lambda i: workspaces.add_key(workspace_a, f"copy {i}", secret, actor=admin))
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(refused) == 1, results
    assert "already stored" in refused[0].message_dict["secret"][0]
    assert ApiKey.objects.filter(secret_sha256=ApiKey.digest(secret)).count() == 1
