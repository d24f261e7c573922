"""Every write about workspaces, their keys, grants and members: one function each.

Used alike by the pages, the JSON API and the Django admin. Each validates, saves inside
`transaction.atomic()`, writes the audit entry, and (when the change could alter a probe's
verdict) announces it on commit with `signals.probe_inputs_changed`, which the network app
answers by probing the workspace's endpoints at the next dispatch.
"""

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.audit import trail

from .models import ApiKey, CatalogModel, EasToken, Membership, ModelGrant, Workspace
from .secrets import check_api_key_secret, check_eas_token
from .signals import probe_inputs_changed

DUPLICATE_KEY = "This key is already stored as '{label}' in {workspace}."


def _changed(workspace: Workspace) -> None:
    transaction.on_commit(lambda: probe_inputs_changed.send(Workspace, workspace=workspace))


# -- workspaces ---------------------------------------------------------------------------


@transaction.atomic
def save_workspace(workspace: Workspace, *, actor, source: str = "web") -> Workspace:
    """Register a new workspace or save changes to one (validated with its rules)."""
    created = workspace.pk is None
    before = None if created else trail.snapshot(Workspace.objects.get(pk=workspace.pk))
    workspace.full_clean()
    try:
        with transaction.atomic():
            workspace.save()
    except IntegrityError:
        # Another request registered the same slug, ID or default workspace meanwhile.
        workspace.validate_unique()
        workspace.clean()
        raise
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        workspace,
        before=before,
        after=trail.snapshot(workspace),
        source=source,
    )
    if not created:
        _changed(workspace)
    return workspace


@transaction.atomic
def delete_workspace(workspace: Workspace, *, actor, source: str = "web") -> None:
    if workspace.endpoints.exists():
        raise ValidationError(
            f"{workspace.name} is used by endpoints' probes; point them elsewhere first."
        )
    trail.record(
        actor, trail.Action.DELETE, workspace, before=trail.snapshot(workspace), source=source
    )
    workspace.delete()


# -- keys ---------------------------------------------------------------------------------


@transaction.atomic
def add_key(
    workspace: Workspace, label: str, secret: str, *, actor, source: str = "web"
) -> tuple[ApiKey, list[str]]:
    """Store a Model Studio key encrypted; returns the key and the warnings about its format.

    ValidationError (by field) when the label or the secret is unusable or the key is already
    stored; the database's constraint settles two requests racing with the same key.
    """
    secret, label = (secret or "").strip(), (label or "").strip()
    errors, warnings = check_api_key_secret(secret)
    problems: dict[str, list[str]] = {}
    if errors:
        problems["secret"] = errors
    if not label or len(label) > 100:
        problems["label"] = ["Give the key a label of up to 100 characters."]
    if problems:
        raise ValidationError(problems)
    key = ApiKey(workspace=workspace, label=label, created_by=actor if actor else None)
    key.set_secret(secret)
    try:
        with transaction.atomic():
            if stored_copy(key.secret_sha256) is not None:
                raise IntegrityError
            key.save()  # the database refuses a second active copy, whoever checked first
    except IntegrityError:
        other = stored_copy(key.secret_sha256)
        where = (other.label, other.workspace.name) if other else ("another key", "a workspace")
        raise ValidationError(
            {"secret": [DUPLICATE_KEY.format(label=where[0], workspace=where[1])]}
        ) from None
    trail.record(actor, trail.Action.CREATE, key, after=trail.snapshot(key), source=source)
    _changed(workspace)
    return key, warnings


KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@transaction.atomic
def set_key_id(key: ApiKey, key_id: str, *, actor, source: str = "web") -> ApiKey:
    """Record Model Studio's ID for the key (how bills name it), so bill rows map to it."""
    key_id = (key_id or "").strip()
    if key_id and not KEY_ID.match(key_id):
        raise ValidationError(
            {"key_id": ["Copy the key's ID from Key Management: letters, digits, - _ . only."]}
        )
    taken = ApiKey.objects.filter(key_id=key_id).exclude(pk=key.pk).first() if key_id else None
    if taken is not None:
        raise ValidationError({"key_id": [f"Key ID {key_id} is already set on '{taken.label}'."]})
    before = trail.snapshot(ApiKey.objects.get(pk=key.pk))
    key.key_id = key_id
    key.save(update_fields=["key_id"])
    trail.record(
        actor, trail.Action.UPDATE, key, before=before, after=trail.snapshot(key), source=source
    )
    return key


def stored_copy(secret_sha256: str) -> ApiKey | None:
    """The active key with this digest, if one is stored already."""
    return (
        ApiKey.objects.filter(secret_sha256=secret_sha256, revoked_at__isnull=True)
        .select_related("workspace")
        .first()
    )


@transaction.atomic
def revoke_key(key: ApiKey, *, actor, source: str = "web") -> bool:
    """Stop using the key (audited); False if it was already revoked."""
    if not _revoke(key, actor, source):
        return False
    _changed(key.workspace)
    return True


def _revoke(secret, actor, source) -> bool:
    if secret.revoked_at is not None:
        return False
    before = trail.snapshot(secret)
    secret.revoked_at = timezone.now()
    secret.save(update_fields=["revoked_at"])
    trail.record(
        actor,
        trail.Action.REVOKE,
        secret,
        before=before,
        after=trail.snapshot(secret),
        source=source,
    )
    return True


def new_eas_token(region, label: str, secret: str, *, actor) -> EasToken:
    """An EAS token, encrypted, not yet saved (it is saved with the endpoint that uses it)."""
    errors, _ = check_eas_token((secret or "").strip())
    if errors:
        raise ValidationError({"eas_token": errors})
    token = EasToken(label=label[:100], created_by=actor if actor else None)
    if region is not None:
        token.region = region
    token.set_secret(secret.strip())
    return token


def revoke_eas_token(token: EasToken, *, actor, source: str = "web") -> bool:
    return _revoke(token, actor, source)


# -- model grants -------------------------------------------------------------------------


@transaction.atomic
def set_grants(workspace: Workspace, names: list[str], *, actor, source: str = "web") -> None:
    """Replace the grant set as a whole: all names valid, or nothing changes."""
    wanted = {m.pk: m for m in workspace.check_grantable(names)}
    current = {g.model_id: g for g in workspace.grants.select_related("model")}
    for model_id, grant in current.items():
        if model_id not in wanted:
            grant.delete()
            trail.record(
                actor,
                trail.Action.REVOKE,
                workspace,
                label=f"{workspace.name}: {grant.model.name}",
                source=source,
            )
    for model_id, model in wanted.items():
        if model_id not in current:
            _grant(workspace, model, actor, source)
    _changed(workspace)


@transaction.atomic
def toggle_grant(workspace: Workspace, model: CatalogModel, *, actor, source="web") -> bool:
    """Grant the model if it isn't, revoke it if it is; returns the new state."""
    grant = workspace.grants.filter(model=model).first()
    if grant is not None:
        grant.delete()
        trail.record(
            actor,
            trail.Action.REVOKE,
            workspace,
            label=f"{workspace.name}: {model.name}",
            source=source,
        )
        _changed(workspace)
        return False
    (model,) = workspace.check_grantable([model.name])
    _grant(workspace, model, actor, source)
    _changed(workspace)
    return True


@transaction.atomic
def grant_model(workspace: Workspace, model: CatalogModel, *, actor, source="web") -> None:
    """Grant one model (checked like every grant); nothing happens if it is granted already."""
    (model,) = workspace.check_grantable([model.name])
    _grant(workspace, model, actor, source)
    _changed(workspace)


@transaction.atomic
def revoke_grant(grant: ModelGrant, *, actor, source="web") -> None:
    workspace, name = grant.workspace, grant.model.name
    grant.delete()
    trail.record(
        actor, trail.Action.REVOKE, workspace, label=f"{workspace.name}: {name}", source=source
    )
    _changed(workspace)


def _grant(workspace, model, actor, source) -> None:
    ModelGrant.objects.get_or_create(
        workspace=workspace, model=model, defaults={"granted_by": actor if actor else None}
    )
    trail.record(
        actor, trail.Action.GRANT, workspace, label=f"{workspace.name}: {model.name}", source=source
    )


# -- members ------------------------------------------------------------------------------


@transaction.atomic
def add_member(workspace: Workspace, user, *, is_lead: bool, actor, source="web") -> Membership:
    """Make `user` a member (or the lead) of the workspace.

    Leading a workspace means seeing its costs, which only the lead role does: making an admin
    or ops user "lead" would give them nothing, so it is refused with the reason.
    """
    if is_lead and not user.is_lead:
        raise ValidationError(
            {
                "username": [
                    f"{user.username} is {user.get_role_display()}, not a team lead: only "
                    "team leads lead workspaces (admins see every workspace already)."
                ]
            }
        )
    membership, _ = Membership.objects.update_or_create(
        workspace=workspace, user=user, defaults={"is_lead": is_lead}
    )
    trail.record(
        actor,
        trail.Action.UPDATE,
        workspace,
        label=f"{workspace.name}: {'lead' if is_lead else 'member'} {user.username}",
        source=source,
    )
    return membership


@transaction.atomic
def remove_member(membership: Membership, *, actor, source="web") -> None:
    workspace, username = membership.workspace, membership.user.username
    membership.delete()
    trail.record(
        actor,
        trail.Action.UPDATE,
        workspace,
        label=f"{workspace.name}: removed {username}",
        source=source,
    )
