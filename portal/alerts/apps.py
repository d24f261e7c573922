from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "portal.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from . import receivers  # noqa: F401  (incident events and budget thresholds → outbox)
