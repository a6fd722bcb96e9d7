"""Assignment, enrolment, phases, the audit trail, exposure and outcomes, through the real services."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest

from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Role
from experiments import services
from experiments.models import AuditEntry, Enrolment, Exposure, Status, UnitAssignment
from experiments.services import VariantSpec, blocked_variant, hashed_variant
from salesrl.api_errors import DomainError
from tests.experiments.helpers import CONTROL, known_teams, make_experiment, open_conversation
from tests.factories import make_team, make_user

pytestmark = pytest.mark.django_db

TWO = [{"key": "control", "weight": 1}, {"key": "guidance", "weight": 1}]


def test_hashing_is_deterministic_and_follows_the_weights():
    variants = [{"key": "control", "weight": 9}, {"key": "guidance", "weight": 1}]
    first = [
        hashed_variant(variants, key="exp", phase=1, unit_key=f"conversation:{i}") for i in range(20_000)
    ]
    again = [
        hashed_variant(variants, key="exp", phase=1, unit_key=f"conversation:{i}") for i in range(20_000)
    ]
    assert first == again
    share = Counter(first)["guidance"] / len(first)
    assert share == pytest.approx(0.10, abs=0.01)
    # Another experiment (or phase) draws independently: about half of the units change arm.
    other = [hashed_variant(TWO, key="exp", phase=2, unit_key=f"conversation:{i}") for i in range(2000)]
    same = [hashed_variant(TWO, key="exp", phase=1, unit_key=f"conversation:{i}") for i in range(2000)]
    assert 0.4 < sum(a != b for a, b in zip(other, same, strict=True)) / 2000 < 0.6


def test_blocked_assignment_balances_every_stratum_exactly():
    for stratum in ("team:1", "team:2", "team:3"):
        arms = [blocked_variant(TWO, key="exp", phase=1, stratum=stratum, sequence=s) for s in range(12)]
        assert Counter(arms) == {"control": 6, "guidance": 6}
    weighted = [{"key": "control", "weight": 2}, {"key": "guidance", "weight": 1}]
    arms = [blocked_variant(weighted, key="exp", phase=1, stratum="team:1", sequence=s) for s in range(9)]
    assert Counter(arms) == {"control": 6, "guidance": 3}
    # Blocks are shuffled, not alternating: some block starts with each arm.
    starts = {blocked_variant(TWO, key="exp", phase=1, stratum="t", sequence=2 * b) for b in range(20)}
    assert starts == {"control", "guidance"}


def test_reps_are_balanced_within_their_team_and_keep_their_arm(org):
    reps = [org.rep, org.rep2] + [make_user(f"rep{i}", team=org.team) for i in range(10)]
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    for _ in range(3):
        for rep in reps:
            open_conversation(team=org.team, rep=rep)
    assignments = UnitAssignment.objects.filter(experiment=experiment)
    assert assignments.count() == 12
    assert Counter(a.variant.key for a in assignments) == {"control": 6, "guidance": 6}
    for rep in reps:  # every conversation of a rep is in the rep's one arm
        assert (
            Enrolment.objects.filter(experiment=experiment, rep_id=rep.pk)
            .values("variant")
            .distinct()
            .count()
            == 1
        )
    assert Enrolment.objects.filter(experiment=experiment).count() == 36


def test_only_new_conversations_of_covered_teams_are_enrolled(org):
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    outside = open_conversation(team=org.other_team, rep=org.outsider)
    inside = open_conversation(team=org.team, rep=org.rep)
    line = json.dumps({"id": "old-1", "converted": True, "turns": [{"speaker": "rep", "text": "hi"}]})
    conversation_services.import_conversations(lines=[line], team=org.team, rep=org.rep)
    enrolled = set(Enrolment.objects.filter(experiment=experiment).values_list("conversation_id", flat=True))
    assert enrolled == {inside.pk}
    assert outside.pk not in enrolled


def test_a_draft_or_stopped_experiment_enrols_nobody_and_guidance_returns_after_stop(org):
    draft = make_experiment(org.admin, key="draft-one", team_ids=[org.team.pk])
    open_conversation(team=org.team, rep=org.rep)
    assert not Enrolment.objects.filter(experiment=draft).exists()

    experiment = make_experiment(
        org.admin, variants=[CONTROL, VariantSpec("also-off", "Off too", 1, show_guidance=False)], start=True
    )
    conversation = open_conversation(team=org.team, rep=org.rep)
    assert services.guidance_allowed(conversation.pk) is False
    services.stop_experiment(experiment=experiment, actor=org.admin)
    assert services.guidance_allowed(conversation.pk) is True
    assert services.arm_for(conversation.pk) is None
    # Its outcome is still recorded after the stop, so the analysis completes.
    conversation_services.append_turn(conversation=conversation, speaker="rep", text="Hello")
    conversation_services.close_conversation(conversation=conversation, outcome="won")
    enrolment = Enrolment.objects.get(experiment=experiment, conversation_id=conversation.pk)
    assert (enrolment.converted, enrolment.turns) == (True, 1)


def test_changing_a_running_design_is_refused_unless_it_starts_a_new_phase(org):
    rep3 = make_user("rep3", team=org.team)
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    for rep in (org.rep, org.rep2, rep3):
        open_conversation(team=org.team, rep=rep)
    heavier = [CONTROL, VariantSpec("guidance", "Live guidance", 3, show_guidance=True)]
    with pytest.raises(DomainError) as refused:
        services.update_experiment(
            experiment=experiment, actor=org.admin, changes={"variants": heavier}, known_teams=known_teams()
        )
    assert refused.value.error_code == "running_experiment_locked"
    assert refused.value.details == {"fields": ["variants"]}
    experiment.refresh_from_db()
    assert experiment.phase == 1
    assert experiment.variants.get(key="guidance").weight == 1

    # Text changes are fine while running, and audited.
    services.update_experiment(
        experiment=experiment, actor=org.admin, changes={"hypothesis": "Sharper."}, known_teams=known_teams()
    )
    services.update_experiment(
        experiment=experiment,
        actor=org.admin,
        changes={"variants": heavier},
        known_teams=known_teams(),
        new_phase=True,
        reason="more reps on guidance",
    )
    experiment.refresh_from_db()
    assert experiment.phase == 2
    first, second = experiment.phases.order_by("number")
    assert first.ended_at is not None and second.ended_at is None
    assert [v["weight"] for v in second.config["variants"]] == [1, 3]
    assert [v["weight"] for v in first.config["variants"]] == [1, 1]
    new = open_conversation(team=org.team, rep=org.rep)
    assert Enrolment.objects.get(experiment=experiment, conversation_id=new.pk).phase == 2
    assert UnitAssignment.objects.filter(experiment=experiment, phase=2).count() == 1
    actions = list(
        AuditEntry.objects.filter(experiment=experiment).order_by("at", "id").values_list("action", flat=True)
    )
    assert actions == ["created", "started", "updated", "updated", "new_phase"]
    change = AuditEntry.objects.filter(experiment=experiment, action="updated").order_by("id").last()
    assert change.actor == org.admin
    assert change.changes["variants"][0][1]["weight"] == 1 and change.changes["variants"][1][1]["weight"] == 3


def test_a_stopped_experiment_is_final_and_overlaps_are_refused(org):
    first = make_experiment(org.admin, key="first", start=True, team_ids=[org.team.pk])
    second = make_experiment(org.admin, key="second", team_ids=[org.team.pk, org.other_team.pk])
    with pytest.raises(DomainError) as clash:
        services.start_experiment(experiment=second, actor=org.admin)
    assert clash.value.error_code == "overlapping_experiment"
    elsewhere = make_experiment(org.admin, key="elsewhere", team_ids=[org.other_team.pk])
    services.start_experiment(experiment=elsewhere, actor=org.admin)  # no shared team: fine
    services.stop_experiment(experiment=first, actor=org.admin)
    with pytest.raises(DomainError) as stopped:
        services.update_experiment(
            experiment=first, actor=org.admin, changes={"name": "again"}, known_teams=known_teams()
        )
    assert stopped.value.error_code == "experiment_stopped"
    with pytest.raises(DomainError):
        services.start_experiment(experiment=first, actor=org.admin)
    first.refresh_from_db()
    assert first.status == Status.STOPPED


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([CONTROL], "2 to 6"),
        ([CONTROL, VariantSpec("control", "Again", 1)], "distinct"),
        ([VariantSpec("a", "A", 1), VariantSpec("b", "B", 1)], "Exactly one"),
        ([CONTROL, VariantSpec("x", "Second control", 1, is_control=True)], "Exactly one"),
    ],
)
def test_invalid_variants_are_refused(org, variants, message):
    with pytest.raises(DomainError) as refused:
        make_experiment(org.admin, variants=variants)
    assert refused.value.status_code == 400
    assert any(message in problem for problem in refused.value.details["variants"])


def test_exposure_counts_only_the_rep_and_only_once_per_surface(org, client):
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    conversation = open_conversation(team=org.team, rep=org.rep)
    client.force_login(org.manager)
    assert client.get(f"/conversations/{conversation.pk}/").status_code == 200
    assert not Exposure.objects.exists()
    client.force_login(org.rep)
    client.get(f"/conversations/{conversation.pk}/")
    client.get(f"/conversations/{conversation.pk}/")
    enrolment = Enrolment.objects.get(experiment=experiment, conversation_id=conversation.pk)
    assert enrolment.exposed_at is not None
    assert list(Exposure.objects.values_list("surface", flat=True)) == ["live_page"]


def test_the_live_page_and_the_guidance_api_honour_the_arm(org, client, api):
    rep_in = {}
    reps = [org.rep, org.rep2]
    make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    for rep in reps:
        conversation = open_conversation(team=org.team, rep=rep)
        rep_in[services.arm_for(conversation.pk).variant_key] = (rep, conversation)
    assert set(rep_in) == {"control", "guidance"}  # one block of two reps: one each

    control_rep, control_conversation = rep_in["control"]
    client.force_login(control_rep)
    page = client.get(f"/conversations/{control_conversation.pk}/").content.decode()
    assert 'id="guidance"' not in page and 'data-guidance="off"' in page
    assert 'id="nudges"' not in page and 'id="similar"' not in page
    assert 'id="moved"' in page  # what moved the probability is part of the score, shown to everyone
    body = api(control_rep).get(f"/api/v1/conversations/{control_conversation.pk}/guidance/").json()
    assert body == {"guidance": None, "withheld": True}
    assert Exposure.objects.filter(surface="api").count() == 1

    treated_rep, treated_conversation = rep_in["guidance"]
    client.force_login(treated_rep)
    page = client.get(f"/conversations/{treated_conversation.pk}/").content.decode()
    assert 'id="guidance"' in page and 'data-guidance="on"' in page
    assert (
        api(treated_rep).get(f"/api/v1/conversations/{treated_conversation.pk}/guidance/").json()["withheld"]
        is False
    )


def test_no_guidance_is_computed_for_a_control_conversation(org):
    from coaching import services as coaching_services
    from scoring.models import Score

    make_experiment(
        org.admin, variants=[CONTROL, VariantSpec("off", "Off", 1, show_guidance=False)], start=True
    )
    conversation = open_conversation(team=org.team, rep=org.rep)
    turn, _ = conversation_services.append_turn(conversation=conversation, speaker="rep", text="Hi there")
    score = Score.objects.create(
        turn=turn,
        conversation=conversation,
        probability=0.4,
        model_version="baseline",
        scored_at=timezone.now(),
    )
    assert coaching_services.advise(score) is None
    assert not conversation.guidance.exists()


def test_team_unit_and_conversation_unit_keys(org):
    by_team = make_experiment(org.admin, key="by-team", unit="team", start=True, team_ids=[org.team.pk])
    other = make_team("Third")
    by_conversation = make_experiment(
        org.admin, key="by-conversation", unit="conversation", start=True, team_ids=[other.pk]
    )
    assert by_conversation.assignment == "hash" and by_team.assignment == "blocked"
    make_user("third-rep", team=other, role=Role.REP)
    a = open_conversation(team=org.team, rep=org.rep)
    b = open_conversation(team=org.team, rep=org.rep2)
    units = set(Enrolment.objects.filter(experiment=by_team).values_list("unit_key", flat=True))
    assert units == {f"team:{org.team.pk}"}
    assert services.arm_for(a.pk).variant_key == services.arm_for(b.pk).variant_key


def test_enrolled_at_is_the_conversation_start(org):
    experiment = make_experiment(org.admin, start=True)
    started = timezone.now() - dt.timedelta(hours=3)
    conversation = open_conversation(team=org.team, rep=org.rep, started_at=started)
    assert (
        Enrolment.objects.get(experiment=experiment, conversation_id=conversation.pk).enrolled_at == started
    )
