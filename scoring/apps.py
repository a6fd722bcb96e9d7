from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from conversations.serializers import register_turn_extra
        from conversations.signals import turns_appended

        from . import receivers, services

        turns_appended.connect(receivers.schedule_scoring, dispatch_uid="scoring.schedule_scoring")
        register_turn_extra("score", services.latest_scores_for_turns)
