"""add_user, as an operator would run it."""

import io

import pytest
from django.core.management import CommandError, call_command

from portal.accounts.models import User
from portal.audit.models import AuditEntry


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("role", ["admin", "ops", "lead"])
def test_add_user_creates_a_user_of_each_role(db, role):
    output = run("add_user", "newbie", "--role", role, "--password", "s3cret-pass-word")
    user = User.objects.get(username="newbie")
    assert user.role == role
    assert user.check_password("s3cret-pass-word")
    assert user.is_staff is (role == "admin")
    assert f"Created {role} user newbie" in output


def test_add_user_generates_and_prints_a_password_when_none_is_given(db):
    output = run("add_user", "gen", "--role", "ops")
    password = output.strip().splitlines()[-1].removeprefix("Password: ")
    assert User.objects.get(username="gen").check_password(password)


def test_add_user_makes_a_lead_of_workspaces(make_workspace):
    ws = make_workspace("payments")
    run(
        "add_user",
        "pat",
        "--role",
        "lead",
        "--workspace",
        "payments",
        "--password",
        "x-long-password",
    )
    membership = ws.memberships.get(user__username="pat")
    assert membership.is_lead


def test_add_user_refuses_an_unknown_workspace_and_creates_nothing(make_workspace):
    make_workspace("payments")
    with pytest.raises(CommandError, match="Unknown workspace nope"):
        run("add_user", "pat", "--role", "lead", "--workspace", "nope")
    assert not User.objects.filter(username="pat").exists()


def test_add_user_updates_an_existing_user(admin):
    run("add_user", admin.username, "--role", "ops")
    admin.refresh_from_db()
    assert admin.role == "ops" and not admin.is_staff
    assert AuditEntry.objects.filter(action="update", source="cli").exists()
