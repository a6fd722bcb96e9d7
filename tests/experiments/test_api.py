"""The experiments API and pages: who may do what, bad input, results, exports, the planner."""

from __future__ import annotations

import csv
import io

import pytest

from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services as conversation_services
from experiments.models import AuditEntry, Experiment
from tests.experiments.helpers import make_experiment, open_conversation
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NEW = {
    "name": "Guidance lifts conversion",
    "key": "guidance-q1",
    "hypothesis": "Reps who see live guidance convert more often.",
    "unit": "rep",
    "variants": [
        {"key": "control", "name": "No guidance", "weight": 1, "is_control": True, "show_guidance": False},
        {"key": "guidance", "name": "Live guidance", "weight": 1, "show_guidance": True},
    ],
}


def traffic(org, experiment, *, reps=6, per_rep=4):
    people = [org.rep, org.rep2] + [make_user(f"extra{i}", team=org.team) for i in range(reps - 2)]
    for i in range(per_rep):
        for n, rep in enumerate(people):
            conversation = open_conversation(team=org.team, rep=rep)
            conversation_services.append_turn(conversation=conversation, speaker="rep", text="=HYPERLINK(1)")
            if i < per_rep - 1:
                outcome = "won" if (i + n) % 3 == 0 else "lost"
                conversation_services.close_conversation(conversation=conversation, outcome=outcome)
    return people


def test_an_admin_creates_starts_changes_and_stops_an_experiment(org, api):
    client = api(org.admin)
    created = client.post("/api/v1/experiments/", NEW, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft" and body["assignment"] == "blocked"
    assert body["guardrails"] == ["turns", "time_to_close"]
    assert client.post("/api/v1/experiments/guidance-q1/start/").json()["status"] == "running"

    heavier = {"variants": [dict(NEW["variants"][0]), {**NEW["variants"][1], "weight": 2}]}
    refused = client.patch("/api/v1/experiments/guidance-q1/", heavier, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "running_experiment_locked"
    assert refused.json()["error"]["details"] == {"fields": ["variants"]}
    phased = client.patch(
        "/api/v1/experiments/guidance-q1/", {**heavier, "new_phase": True, "reason": "2:1"}, format="json"
    )
    assert phased.status_code == 200 and phased.json()["phase"] == 2
    assert (
        client.post("/api/v1/experiments/guidance-q1/stop/", {"reason": "done"}, format="json").status_code
        == 200
    )
    audit = client.get("/api/v1/experiments/guidance-q1/audit/").json()["results"]
    assert [e["action"] for e in audit] == ["stopped", "new_phase", "updated", "started", "created"]
    assert audit[0]["actor"] == org.admin.username and audit[0]["changes"] == {"reason": "done"}


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"variants": [NEW["variants"][1]]}, "invalid_experiment", "variants"),
        (
            {"variants": [{**v, "is_control": False} for v in NEW["variants"]]},
            "invalid_experiment",
            "variants",
        ),
        (
            {"variants": [{**NEW["variants"][0], "weight": 0}, NEW["variants"][1]]},
            "validation_error",
            "variants",
        ),
        ({"team_ids": [99999]}, "invalid_experiment", "team_ids"),
        ({"unit": "planet"}, "validation_error", "unit"),
        ({"key": "Not a slug!"}, "validation_error", "key"),
        ({"alpha": 0.7}, "validation_error", "alpha"),
        ({"guardrails": ["mood"]}, "validation_error", "guardrails"),
    ],
)
def test_bad_input_is_a_400_with_the_error_shape_and_stores_nothing(org, api, change, code, field):
    response = api(org.admin).post("/api/v1/experiments/", {**NEW, **change}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"status", "code", "message", "details"} and error["code"] == code
    if field:
        assert field in error["details"]
    assert not Experiment.objects.exists()


def test_conflicts_are_409s(org, api):
    client = api(org.admin)
    client.post("/api/v1/experiments/", NEW, format="json")
    again = client.post("/api/v1/experiments/", NEW, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "key_taken"
    assert client.post("/api/v1/experiments/guidance-q1/stop/").json()["error"]["code"] == "not_running"
    assert client.get("/api/v1/experiments/guidance-q1/results/").json()["error"]["code"] == "no_phase"
    client.post("/api/v1/experiments/guidance-q1/start/")
    assert client.post("/api/v1/experiments/guidance-q1/start/").json()["error"]["code"] == "not_a_draft"
    assert client.get("/api/v1/experiments/guidance-q1/results/?phase=7").status_code == 404
    bad_phase = client.get("/api/v1/experiments/guidance-q1/results/?phase=x")
    assert bad_phase.status_code == 400 and "phase" in bad_phase.json()["error"]["details"]
    bad_rows = client.get("/api/v1/experiments/guidance-q1/results/export/?rows=all")
    assert bad_rows.status_code == 400


def test_who_may_see_and_change_what(org, api):
    own = make_experiment(org.admin, key="own-team", team_ids=[org.team.pk], start=True)
    make_experiment(org.admin, key="everyone")  # every team: only admins read it
    urls = [f"/api/v1/experiments/own-team/{tail}" for tail in ("", "results/", "audit/", "results/export/")]
    writes = [
        ("patch", "/api/v1/experiments/own-team/", {"name": "x"}),
        ("post", "/api/v1/experiments/own-team/stop/", {}),
        ("post", "/api/v1/experiments/", NEW),
    ]
    # The team's manager reads their team's experiment, not the org-wide one, and changes nothing.
    manager = api(org.manager)
    assert [e["key"] for e in manager.get("/api/v1/experiments/").json()["results"]] == ["own-team"]
    for url in urls:
        assert manager.get(url).status_code == 200, url
    assert manager.get("/api/v1/experiments/everyone/").status_code == 404
    for method, url, data in writes:
        assert getattr(manager, method)(url, data, format="json").status_code == 403, url
    # Another team's manager and the reps: nothing.
    for persona in (org.other_manager, org.rep, org.outsider):
        client = api(persona)
        for url in urls:
            assert client.get(url).status_code == 404, (persona, url)
        for method, url, data in writes[:2]:
            assert getattr(client, method)(url, data, format="json").status_code == 404
    assert api(org.rep).get("/api/v1/experiments/").status_code == 403
    assert api(org.rep).post("/api/v1/experiments/", NEW, format="json").status_code == 403
    assert api(org.rep).get("/api/v1/experiments/plan/?baseline_rate=0.3").status_code == 403
    anonymous = api(None)
    for url in [*urls, "/api/v1/experiments/"]:
        assert anonymous.get(url).status_code in (401, 403)
    own.refresh_from_db()
    assert own.name == "Guidance lifts conversion" and own.is_running


def test_results_report_every_part_and_pin_their_queries(org, api):
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    traffic(org, experiment)
    client = api(org.admin)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/experiments/guidance-test/results/")
    assert response.status_code == 200
    assert len(queries) == 6, [q["sql"][:120] for q in queries]
    body = response.json()
    assert [a["key"] for a in body["arms"]] == ["control", "guidance"]
    assert sum(a["enrolled"] for a in body["arms"]) == 24
    assert sum(a["closed"] for a in body["arms"]) == 18
    assert [a["units"] for a in body["arms"]] == [3, 3]  # blocked within the team: 3 and 3
    comparison = body["comparisons"][0]
    assert comparison["clustered"]["clusters"] == [3, 3] and comparison["clustered"]["df"] == 4
    assert "cluster-robust" in comparison["method"]
    assert body["srm"]["observed"] == [3, 3] and body["srm"]["mismatch"] is False
    assert body["srm_conversations"]["observed"] == [12, 12]
    assert {g["key"] for g in body["guardrails"]} == {"turns", "time_to_close"}
    assert body["verdict"]["tone"] == "early"
    assert set(body["figures"]) == {"conversion", "novelty", "time_to_close"}
    assert body["plan"]["reps_per_arm"] == 3


def test_csv_exports_match_the_results(org, api):
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    traffic(org, experiment)
    client = api(org.admin)
    summary = client.get("/api/v1/experiments/guidance-test/results/export/?rows=summary")
    assert summary.status_code == 200 and summary["Content-Type"].startswith("text/csv")
    assert "guidance-test-phase1-summary.csv" in summary["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(summary.streaming_content).decode())))
    assert [r["variant"] for r in rows] == ["control", "guidance"]
    assert sum(int(r["closed"]) for r in rows) == 18
    assert rows[0]["lift_points"] == "" and rows[1]["lift_points"] != ""
    per_conversation = client.get("/api/v1/experiments/guidance-test/results/export/?rows=conversations")
    lines = list(csv.DictReader(io.StringIO(b"".join(per_conversation.streaming_content).decode())))
    assert len(lines) == 24
    assert {line["converted"] for line in lines} == {"0", "1", ""}
    assert all(line["unit"].startswith("rep:") for line in lines)


def test_the_planner_speaks_in_reps_conversations_and_weeks(org, api):
    client = api(org.manager)
    response = client.get(
        "/api/v1/experiments/plan/?baseline_rate=0.3&reps_per_arm=12&conversations_per_rep_per_week=8"
        "&weeks=4&icc=0.02&lift=0.08"
    )
    assert response.status_code == 200
    plan = response.json()
    assert plan["conversations_per_arm"] == pytest.approx(384)
    assert 0.05 < plan["mde_absolute"] < 0.15
    assert plan["sentence"].startswith("With 12 reps per arm at 8 conversations a week each")
    assert plan["weeks_needed"] is not None and plan["reps_needed"] is not None
    bad = client.get("/api/v1/experiments/plan/?baseline_rate=2&reps_per_arm=0")
    assert bad.status_code == 400
    assert {"baseline_rate", "reps_per_arm", "conversations_per_rep_per_week", "weeks"} <= set(
        bad.json()["error"]["details"]
    )


def test_pages_for_each_persona(org, client):
    experiment = make_experiment(org.admin, start=True, team_ids=[org.team.pk])
    traffic(org, experiment)
    pages = ["/experiments/", "/experiments/guidance-test/"]
    client.force_login(org.admin)
    for url in [*pages, "/experiments/new/", "/experiments/guidance-test/edit/"]:
        assert client.get(url).status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/experiments/guidance-test/")
    assert len(queries) == 13, [q["sql"][:120] for q in queries]
    html = page.content.decode()
    assert 'id="verdict" data-tone="early"' in html and 'id="srm" data-mismatch="false"' in html
    assert "figure-conversion" in html and "Audit trail" in html
    client.force_login(org.manager)
    for url in pages:
        assert client.get(url).status_code == 200, url
    assert client.get("/experiments/new/").status_code == 403
    assert client.get("/experiments/guidance-test/edit/").status_code == 403
    assert client.post("/experiments/guidance-test/stop/").status_code == 403
    for persona in (org.rep, org.outsider):
        client.force_login(persona)
        assert client.get("/experiments/").status_code == 403
        assert client.get("/experiments/guidance-test/").status_code == 403
    client.force_login(org.other_manager)
    assert client.get("/experiments/guidance-test/").status_code == 404
    client.logout()
    assert client.get("/experiments/").status_code == 302


def test_the_admin_form_creates_and_refuses_a_running_change_without_a_new_phase(org, client):
    client.force_login(org.admin)
    form = {
        "name": "Form experiment",
        "key": "form-exp",
        "hypothesis": "Guidance helps.",
        "unit": "rep",
        "assignment": "",
        "team_ids": [str(org.team.pk)],
        "guardrails": ["turns"],
        "alpha": "0.05",
        "planned_weeks": "4",
        "variants-TOTAL_FORMS": "3",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "6",
        "variants-0-key": "control",
        "variants-0-name": "No guidance",
        "variants-0-weight": "1",
        "variants-0-is_control": "on",
        "variants-1-key": "guidance",
        "variants-1-name": "Live guidance",
        "variants-1-weight": "1",
        "variants-1-show_guidance": "on",
        "variants-2-key": "",
        "variants-2-name": "",
        "variants-2-weight": "1",
    }
    response = client.post("/experiments/new/", form)
    assert response.status_code == 302 and response["Location"] == "/experiments/form-exp/"
    experiment = Experiment.objects.get(key="form-exp")
    assert experiment.team_ids == [org.team.pk] and experiment.guardrails == ["turns"]
    assert [(v.key, v.is_control, v.show_guidance) for v in experiment.variants.all()] == [
        ("control", True, False),
        ("guidance", False, True),
    ]
    no_control = {**form, "key": "form-two"}
    del no_control["variants-0-is_control"]
    page = client.post("/experiments/new/", no_control)
    assert page.status_code == 200 and "Exactly one variant must be the control." in page.content.decode()
    assert client.post("/experiments/form-exp/start/").status_code == 302
    edit = {k: v for k, v in form.items() if k != "key"} | {"variants-1-weight": "3"}
    refused = client.post("/experiments/form-exp/edit/", edit)
    assert refused.status_code == 200 and "new_phase" in refused.content.decode()
    assert (
        client.post("/experiments/form-exp/edit/", {**edit, "new_phase": "on", "reason": "3:1"}).status_code
        == 302
    )
    experiment.refresh_from_db()
    assert experiment.phase == 2
    assert AuditEntry.objects.filter(experiment=experiment, action="new_phase").exists()
