from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    name = "endpoints.devtools"
    label = "devtools"
    verbose_name = "Developer tools"
