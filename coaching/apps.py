from django.apps import AppConfig


class CoachingConfig(AppConfig):
    """Guidance for reps: dialogue acts, the learned next-step advice, behaviour nudges, feedback."""

    name = "coaching"

    def ready(self) -> None:
        from conversations.serializers import register_turn_extra
        from scoring.signals import score_stored

        from . import receivers, services

        score_stored.connect(receivers.schedule_guidance, dispatch_uid="coaching.schedule_guidance")
        register_turn_extra("act", services.latest_acts_for_turns)
