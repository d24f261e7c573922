from django.apps import AppConfig


class ProbesConfig(AppConfig):
    name = "endpoints.probes"
    label = "probes"
    verbose_name = "Probes"
