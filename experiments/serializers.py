"""Input and output shapes of the experiments API (and of the page forms' data)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import AssignmentMethod, Experiment, Guardrail, Lever, Unit
from .services import ExperimentSpec, VariantSpec


class VariantInput(serializers.Serializer):
    key = serializers.SlugField(max_length=40)
    name = serializers.CharField(max_length=80)
    weight = serializers.IntegerField(min_value=1, max_value=100, default=1)
    is_control = serializers.BooleanField(default=False)
    show_guidance = serializers.BooleanField(
        default=True, help_text="Whether reps in this variant see live guidance (the lever 'guidance')."
    )

    def spec(self) -> VariantSpec:
        return VariantSpec(**self.validated_data)


def variant_specs(items: list[dict[str, Any]]) -> list[VariantSpec]:
    return [VariantSpec(**item) for item in items]


class ExperimentInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    key = serializers.SlugField(max_length=60, help_text="Fixed at creation: the hashing salt and URL name.")
    hypothesis = serializers.CharField(max_length=4000)
    lever = serializers.ChoiceField(choices=Lever.choices, default=Lever.GUIDANCE)
    unit = serializers.ChoiceField(choices=Unit.choices, default=Unit.REP)
    assignment = serializers.ChoiceField(
        choices=AssignmentMethod.choices,
        required=False,
        help_text="Default: blocked (stratified by team) for rep and team units, hash for conversations.",
    )
    guardrails = serializers.ListField(
        child=serializers.ChoiceField(choices=Guardrail.choices),
        default=[Guardrail.TURNS, Guardrail.TIME_TO_CLOSE],
    )
    team_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), default=list, max_length=500
    )
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, default=0.05)
    planned_weeks = serializers.IntegerField(min_value=1, max_value=52, default=4)
    sequential = serializers.BooleanField(default=False)
    variants = VariantInput(many=True)

    def spec(self) -> ExperimentSpec:
        data = dict(self.validated_data)
        data["variants"] = variant_specs(data["variants"])
        return ExperimentSpec(**data)


class ExperimentChange(serializers.Serializer):
    """PATCH: any subset of the editable fields, plus new_phase to change a running design."""

    name = serializers.CharField(max_length=120, required=False)
    hypothesis = serializers.CharField(max_length=4000, required=False)
    unit = serializers.ChoiceField(choices=Unit.choices, required=False)
    assignment = serializers.ChoiceField(choices=AssignmentMethod.choices, required=False)
    guardrails = serializers.ListField(
        child=serializers.ChoiceField(choices=Guardrail.choices), required=False
    )
    team_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=500
    )
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, required=False)
    planned_weeks = serializers.IntegerField(min_value=1, max_value=52, required=False)
    sequential = serializers.BooleanField(required=False)
    variants = VariantInput(many=True, required=False)
    new_phase = serializers.BooleanField(
        default=False,
        help_text="Required to change unit, assignment, teams or variants of a running experiment: ends "
        "the current phase and starts a new one.",
    )
    reason = serializers.CharField(max_length=500, required=False, default="")

    def changes(self) -> dict[str, Any]:
        data = {k: v for k, v in self.validated_data.items() if k not in ("new_phase", "reason")}
        if "variants" in data:
            data["variants"] = variant_specs(data["variants"])
        return data


class StopInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="")


class PlanInput(serializers.Serializer):
    baseline_rate = serializers.FloatField(min_value=0.001, max_value=0.999)
    reps_per_arm = serializers.IntegerField(min_value=1, max_value=10_000)
    conversations_per_rep_per_week = serializers.FloatField(min_value=0.1, max_value=10_000)
    weeks = serializers.FloatField(min_value=0.5, max_value=104)
    icc = serializers.FloatField(min_value=0, max_value=0.99, default=0.02)
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, default=0.05)
    power = serializers.FloatField(min_value=0.5, max_value=0.99, default=0.8)
    arms = serializers.IntegerField(min_value=2, max_value=6, default=2)
    lift = serializers.FloatField(
        min_value=0.001,
        max_value=0.9,
        required=False,
        help_text="A lift in rate units (0.05 = 5 points): also answer how many weeks and reps it needs.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The planner's power functions need the lifted rate to be a rate too (strictly below 1).
        if "lift" in attrs and attrs["baseline_rate"] + attrs["lift"] >= 1:
            raise serializers.ValidationError({"lift": ["baseline_rate + lift must be below 1."]})
        return attrs


def experiment_summary(experiment: Experiment, team_names: dict[int, str]) -> dict[str, Any]:
    variants = [v for v in experiment.variants.all() if v.active]
    return {
        "key": experiment.key,
        "name": experiment.name,
        "hypothesis": experiment.hypothesis,
        "lever": experiment.lever,
        "unit": experiment.unit,
        "assignment": experiment.assignment,
        "primary_metric": experiment.primary_metric,
        "guardrails": list(experiment.guardrails),
        "teams": [{"id": t, "name": team_names.get(t, f"team {t}")} for t in experiment.team_ids],
        "alpha": experiment.alpha,
        "planned_weeks": experiment.planned_weeks,
        "sequential": experiment.sequential,
        "status": experiment.status,
        "phase": experiment.phase,
        "started_at": experiment.started_at.isoformat() if experiment.started_at else None,
        "stopped_at": experiment.stopped_at.isoformat() if experiment.stopped_at else None,
        "variants": [
            {
                "key": v.key,
                "name": v.name,
                "weight": v.weight,
                "is_control": v.is_control,
                "show_guidance": v.show_guidance,
            }
            for v in variants
        ],
    }
