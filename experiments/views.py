"""Experiment pages: the list, the admin's form, and the results page (figures drawn by charts.js)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from salesrl.api_errors import DomainError

from . import charts, results, services
from .access import TeamAccess, team_access
from .forms import DEFAULT_VARIANTS, ChangeForm, ExperimentForm, VariantFormSet, spec_from, variant_specs
from .models import Experiment, Status


def _access(request: HttpRequest) -> TeamAccess:
    access = team_access(request)
    if not access.may_open_experiments:
        raise PermissionDenied("Experiments are for admins and managers.")
    return access


def _experiment(request: HttpRequest, key: str) -> tuple[Experiment, TeamAccess]:
    access = _access(request)
    return get_object_or_404(
        Experiment.objects.readable_with(access).prefetch_related("variants"), key=key
    ), access


def _admin(access: TeamAccess) -> None:
    if not access.may_configure:
        raise PermissionDenied("Only admins configure experiments.")


def _form_errors(form: Any, error: DomainError) -> None:
    details = error.details if isinstance(error.details, dict) else {}
    shown = False
    for field, problems in details.items():
        if isinstance(problems, list):
            for problem in problems:
                form.add_error(field if field in form.fields else None, str(problem))
                shown = True
    if not shown:
        form.add_error(None, str(error.detail))


@login_required
@require_GET
def experiment_list(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    experiments = (
        Experiment.objects.readable_with(access)
        .annotate(enrolled=Count("enrolments"))
        .order_by("-created_at")
    )
    return render(
        request,
        "experiments/list.html",
        {"experiments": experiments, "access": access, "teams": access.teams},
    )


@login_required
@require_http_methods(["GET", "POST"])
def experiment_new(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    _admin(access)
    form = ExperimentForm(request.POST or None, teams=access.teams)
    # Initial rows only for the blank form: a submitted row counts whatever it holds.
    formset = (
        VariantFormSet(request.POST, prefix="variants")
        if request.method == "POST"
        else VariantFormSet(initial=DEFAULT_VARIANTS, prefix="variants")
    )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            experiment = services.create_experiment(
                actor=request.user, spec=spec_from(form, formset), known_teams=access.teams
            )
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Experiment created as a draft. Start it when you are ready.")
            return redirect("experiment-results", key=experiment.key)
    return render(request, "experiments/form.html", {"form": form, "formset": formset, "experiment": None})


@login_required
@require_http_methods(["GET", "POST"])
def experiment_edit(request: HttpRequest, key: str) -> HttpResponse:
    experiment, access = _experiment(request, key)
    _admin(access)
    if experiment.status == Status.STOPPED:
        messages.error(request, "A stopped experiment is final; create a new one to test again.")
        return redirect("experiment-results", key=experiment.key)
    variants = [
        {
            "key": v.key,
            "name": v.name,
            "weight": v.weight,
            "is_control": v.is_control,
            "show_guidance": v.show_guidance,
        }
        for v in experiment.variants.all()
        if v.active
    ]
    form = ChangeForm(request.POST or None, teams=access.teams, initial=ChangeForm.initial_for(experiment))
    formset = (
        VariantFormSet(request.POST, prefix="variants")
        if request.method == "POST"
        else VariantFormSet(initial=variants, prefix="variants")
    )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        values = form.values()
        changes = {k: v for k, v in values.items() if k not in ("new_phase", "reason")}
        if changes.get("assignment") is None:
            changes.pop("assignment")
        changes["variants"] = variant_specs(formset)
        try:
            services.update_experiment(
                experiment=experiment,
                actor=request.user,
                changes=changes,
                known_teams=access.teams,
                new_phase=values["new_phase"],
                reason=values["reason"],
            )
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("experiment-results", key=experiment.key)
    return render(
        request, "experiments/form.html", {"form": form, "formset": formset, "experiment": experiment}
    )


@login_required
@require_POST
def experiment_start(request: HttpRequest, key: str) -> HttpResponse:
    experiment, access = _experiment(request, key)
    _admin(access)
    try:
        services.start_experiment(experiment=experiment, actor=request.user)
    except DomainError as error:
        messages.error(request, str(error.detail))
    else:
        messages.success(request, "Started: new conversations of its teams are assigned from now on.")
    return redirect("experiment-results", key=experiment.key)


@login_required
@require_POST
def experiment_stop(request: HttpRequest, key: str) -> HttpResponse:
    experiment, access = _experiment(request, key)
    _admin(access)
    try:
        services.stop_experiment(
            experiment=experiment, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except DomainError as error:
        messages.error(request, str(error.detail))
    else:
        messages.success(request, "Stopped: every rep sees guidance again.")
    return redirect("experiment-results", key=experiment.key)


@login_required
@require_GET
def experiment_results(request: HttpRequest, key: str) -> HttpResponse:
    experiment, access = _experiment(request, key)
    raw_phase = request.GET.get("phase", "")
    if raw_phase and not raw_phase.isdigit():
        raise Http404("No such phase.")
    context: dict[str, Any] = {
        "experiment": experiment,
        "access": access,
        "variants": [v for v in experiment.variants.all() if v.active],
        "teams": [access.teams.get(t, f"team {t}") for t in experiment.team_ids],
        "phases": list(experiment.phases.all()),
        "audit": list(experiment.audit.select_related("actor")[:50]),
        "report": None,
    }
    if experiment.phase:
        try:
            phase = results.phase_of(
                experiment, int(raw_phase) if raw_phase else None, phases=context["phases"]
            )
        except DomainError as error:
            raise Http404(str(error.detail)) from error
        report = results.phase_report(experiment, phase)
        context.update(
            phase=phase,
            report=report,
            comparisons={c.variant: c for c in report.comparisons},
            figures=charts.figures(report),
            units=results.unit_names(experiment, phase.number, access.teams),
        )
    return render(request, "experiments/results.html", context)
