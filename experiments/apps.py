from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """A/B experiments on guidance (a leaf app: imports nothing from the others). No models yet."""

    name = "experiments"
