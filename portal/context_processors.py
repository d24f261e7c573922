from .roles import Perm, perms_for


def navigation(request):
    """The signed-in user's permissions, for the navigation bar and buttons."""
    perms = perms_for(getattr(request, "user", None))
    return {"perms_": {p.value: (p in perms) for p in Perm}}
