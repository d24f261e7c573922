"""Every write about people: issuing and revoking API tokens, creating users. Audited here."""

from django.db import transaction
from django.utils import timezone

from portal.audit import trail

from .models import ApiToken, Role, User


@transaction.atomic
def issue_token(user, name: str, *, actor, source: str = "web") -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the plaintext, which is shown once and never stored."""
    token, plaintext = ApiToken.issue(user, name)
    trail.record(actor, trail.Action.CREATE, token, after=trail.snapshot(token), source=source)
    return token, plaintext


@transaction.atomic
def revoke_token(token: ApiToken, *, actor, source: str = "web") -> bool:
    """Revoke at once (the next request with it is a 401); False if it was already revoked."""
    if token.revoked_at is not None:
        return False
    before = trail.snapshot(token)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    trail.record(
        actor, trail.Action.REVOKE, token, before=before, after=trail.snapshot(token), source=source
    )
    return True


@transaction.atomic
def save_user(
    username: str, role: str, *, password=None, email: str = "", actor=None, source="cli"
) -> tuple[User, bool]:
    """Create or update a user with `role`; returns (user, created)."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; roles: {', '.join(Role.values)}.")
    user = User.objects.filter(username=username).first()
    created = user is None
    before = None if created else trail.snapshot(user)
    if created:
        user = User(username=username, email=email)
    if password is not None:
        user.set_password(password)
    user.role = role  # save() derives is_staff/is_superuser from the role
    if email:
        user.email = email
    user.save()
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        user,
        before=before,
        after=trail.snapshot(user),
        source=source,
        label=username,
    )
    return user, created
