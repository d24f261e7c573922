from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Access Portal"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
