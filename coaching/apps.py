from django.apps import AppConfig


class CoachingConfig(AppConfig):
    """Guidance for reps and the team views for managers: dialogue acts, next-step advice, nudges,
    feedback; conversation summaries, dashboards, the live wall and the conversation library."""

    name = "coaching"

    def ready(self) -> None:
        from conversations.serializers import register_turn_extra
        from conversations.signals import conversation_closed, conversations_imported
        from scoring.signals import history_scored, scores_stored

        from . import receivers, services

        scores_stored.connect(receivers.schedule_guidance, dispatch_uid="coaching.schedule_guidance")
        conversation_closed.connect(receivers.schedule_summary, dispatch_uid="coaching.schedule_summary")
        conversations_imported.connect(
            receivers.schedule_summaries, dispatch_uid="coaching.schedule_summaries"
        )
        history_scored.connect(receivers.schedule_summaries, dispatch_uid="coaching.summaries_after_history")
        register_turn_extra("act", services.latest_acts_for_turns)
