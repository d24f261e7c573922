from django.apps import AppConfig


class ProbesConfig(AppConfig):
    name = "endpoints.probes"
    label = "probes"
    verbose_name = "Probes"

    def ready(self):
        from . import schedules  # noqa: F401  (connects the schedule planner to the registry)
