from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "endpoints.agents"
    label = "agents"
    verbose_name = "Probe agents"
