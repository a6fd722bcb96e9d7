from django.apps import AppConfig


class CoachingConfig(AppConfig):
    """Guidance for reps (what to do next). Built in the guidance issue; no models yet."""

    name = "coaching"
