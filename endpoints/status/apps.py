from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "endpoints.status"
    label = "status"
    verbose_name = "Status over time"

    def ready(self):
        from . import receivers  # noqa: F401  (incidents from the recorder's and agents' signals)
