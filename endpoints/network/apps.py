from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "endpoints.network"
    label = "network"
    verbose_name = "Network"

    def ready(self):
        from . import services  # noqa: F401  (connects the re-probe receiver)
