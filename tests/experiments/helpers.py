"""Experiments in tests: created, started and fed through the same services the product uses."""

from __future__ import annotations

from conversations import services as conversation_services
from conversations.models import Team
from experiments import services
from experiments.services import ExperimentSpec, VariantSpec

CONTROL = VariantSpec("control", "No guidance", 1, is_control=True, show_guidance=False)
GUIDANCE = VariantSpec("guidance", "Live guidance", 1, is_control=False, show_guidance=True)


def known_teams() -> dict[int, str]:
    return dict(Team.objects.values_list("id", "name"))


def make_experiment(actor, *, key="guidance-test", variants=(CONTROL, GUIDANCE), start=False, **fields):
    spec = ExperimentSpec(
        name=fields.pop("name", "Guidance lifts conversion"),
        key=key,
        hypothesis=fields.pop("hypothesis", "Reps who see live guidance convert more often."),
        variants=list(variants),
        **fields,
    )
    experiment = services.create_experiment(actor=actor, spec=spec, known_teams=known_teams())
    if start:
        experiment = services.start_experiment(experiment=experiment, actor=actor)
    return experiment


def open_conversation(*, team, rep, **fields):
    conversation, _ = conversation_services.create_conversation(actor=rep, team=team, rep=rep, **fields)
    return conversation
