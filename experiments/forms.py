"""The experiment form of the admin pages: the same fields as the API, variants as a formset."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import AssignmentMethod, Experiment, Guardrail, Unit
from .services import ExperimentSpec, VariantSpec

AUTO = ""


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=120)
    key = forms.SlugField(
        max_length=60, help_text="Letters, digits and dashes; fixed once created (it seeds the assignment)."
    )
    hypothesis = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="What you expect and why, e.g. “Reps who see live guidance convert more often.”",
    )
    unit = forms.ChoiceField(choices=Unit.choices, initial=Unit.REP, help_text="Who is randomised.")
    assignment = forms.ChoiceField(
        choices=[(AUTO, "Automatic: blocked by team for reps and teams, hashing for conversations"),
                 *AssignmentMethod.choices],
        required=False,
    )  # fmt: skip
    team_ids = forms.MultipleChoiceField(
        label="Teams",
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every team.",
    )
    guardrails = forms.MultipleChoiceField(
        choices=Guardrail.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=[Guardrail.TURNS, Guardrail.TIME_TO_CLOSE],
    )
    alpha = forms.FloatField(min_value=0.001, max_value=0.2, initial=0.05, label="Significance level")
    planned_weeks = forms.IntegerField(min_value=1, max_value=52, initial=4)
    sequential = forms.BooleanField(
        required=False,
        label="I will look at results every day (always-valid inference)",
    )

    def __init__(self, *args: Any, teams: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team_ids"].choices = [
            (str(k), v) for k, v in sorted(teams.items(), key=lambda kv: kv[1])
        ]

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["team_ids"] = [int(t) for t in data["team_ids"]]
        data["assignment"] = data["assignment"] or None
        return data


class ChangeForm(ExperimentForm):
    """Editing: the key is fixed; a running design changes only with a new phase."""

    new_phase = forms.BooleanField(
        required=False,
        label="Start a new phase (needed to change unit, assignment, teams or variants while running)",
    )
    reason = forms.CharField(max_length=500, required=False, label="Reason (kept in the audit trail)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["key"]

    @staticmethod
    def initial_for(experiment: Experiment) -> dict[str, Any]:
        return {
            "name": experiment.name,
            "hypothesis": experiment.hypothesis,
            "unit": experiment.unit,
            "assignment": experiment.assignment,
            "team_ids": [str(t) for t in experiment.team_ids],
            "guardrails": list(experiment.guardrails),
            "alpha": experiment.alpha,
            "planned_weeks": experiment.planned_weeks,
            "sequential": experiment.sequential,
        }


class VariantForm(forms.Form):
    key = forms.SlugField(max_length=40)
    name = forms.CharField(max_length=80)
    weight = forms.IntegerField(min_value=1, max_value=100, initial=1)
    is_control = forms.BooleanField(required=False, label="Control")
    show_guidance = forms.BooleanField(required=False, label="Shows guidance")


VariantFormSet = forms.formset_factory(VariantForm, extra=1, max_num=6, min_num=2, validate_min=True)

DEFAULT_VARIANTS = [
    {"key": "control", "name": "No guidance", "weight": 1, "is_control": True, "show_guidance": False},
    {"key": "guidance", "name": "Live guidance", "weight": 1, "is_control": False, "show_guidance": True},
]


def variant_specs(formset: Any) -> list[VariantSpec]:
    return [
        VariantSpec(
            key=f.cleaned_data["key"],
            name=f.cleaned_data["name"],
            weight=f.cleaned_data["weight"],
            is_control=f.cleaned_data["is_control"],
            show_guidance=f.cleaned_data["show_guidance"],
        )
        for f in formset.forms
        if f.cleaned_data and f.cleaned_data.get("key")
    ]


def spec_from(form: ExperimentForm, formset: Any) -> ExperimentSpec:
    values = form.values()
    return ExperimentSpec(
        name=values["name"],
        key=values["key"],
        hypothesis=values["hypothesis"],
        unit=values["unit"],
        assignment=values["assignment"],
        guardrails=values["guardrails"],
        team_ids=values["team_ids"],
        alpha=values["alpha"],
        planned_weeks=values["planned_weeks"],
        sequential=values["sequential"],
        variants=variant_specs(formset),
    )
