"""An admin creates and starts an experiment in Debian's Chromium; simulated traffic runs through the
product's assignment, scoring and analysis; the results page shows the lift with its interval and the
sample-ratio check; a rep in control sees no guidance card, a rep in treatment does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from experiments.models import Experiment, UnitAssignment
from tests.experiments.helpers import open_conversation
from tests.factories import make_user
from tests.processes import ARTIFACTS, override_models_dir, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")


def test_an_admin_runs_a_guidance_experiment_and_reps_see_their_arm(org, settings, tmp_path):
    pytest.importorskip("torch", reason="training needs the train extra")
    from coaching import services as coaching_services
    from coaching.experiment_simulation import simulate_experiment
    from scoring import services as scoring_services
    from scoring.ml.export_embedder import ensure_local_model
    from scoring.ml.simulator import simulate

    ensure_local_model(Path(settings.STATE_DIR))
    settings.SALESRL_MODELS_DIR = tmp_path / "models"
    records = list(simulate(300, seed=5))
    model = scoring_services.train_and_register(
        records=records, source="browser test", activate=True, epochs=2, ppo_iterations=1,
        context_reader="off", progress=False,
    )  # fmt: skip
    coaching_services.train_guidance(
        scoring_model=model, records=records, source="browser test", progress=False
    )
    reps = [org.rep, org.rep2] + [make_user(f"newrep{i}", team=org.team) for i in range(4)]

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        with override_models_dir(tmp_path / "models"), web_server() as base_url:
            login(page, base_url, org.admin.username)
            page.click("nav >> text=Experiments")
            page.click("text=New experiment")
            page.fill("#id_name", "Guidance for Inside Sales")
            page.fill("#id_key", "inside-guidance")
            page.fill("#id_hypothesis", "Reps who see live guidance convert more often.")
            page.select_option("#id_unit", "rep")
            page.check(f"input[name=team_ids][value='{org.team.pk}']")
            page.fill("#id_planned_weeks", "1")
            # The two default variants (no guidance as control, live guidance) are kept.
            expect(page.locator("#id_variants-0-key")).to_have_value("control")
            page.click("#save")
            expect(page.locator("#experiment-status")).to_have_text("Draft")
            page.click("#start")
            expect(page.locator("#experiment-status")).to_have_text("Running")

            experiment = Experiment.objects.get(key="inside-guidance")
            assert experiment.team_ids == [org.team.pk] and experiment.is_running
            result = simulate_experiment(
                experiment=experiment,
                reps=[(rep, org.team) for rep in reps],
                conversations_per_rep=8,
                start=experiment.started_at,
                progress=False,
            )
            assert result.by_variant == {"control": 24, "guidance": 24}  # 3 reps each, blocked in the team

            page.reload()
            verdict = page.locator("#verdict")
            expect(verdict).to_be_visible()
            assert verdict.get_attribute("data-tone") in {"early", "inconclusive", "positive", "negative"}
            lift = page.locator("#variant-table tr[data-variant=guidance] td.lift")
            expect(lift).to_have_text(re.compile(r"^[+\u2212]\d+\.\d \(.+ to .+\)$"))
            expect(page.locator("#srm")).to_have_attribute("data-mismatch", "false")
            expect(page.locator("#srm")).to_contain_text("No mismatch")
            for chart in ("figure-conversion", "figure-novelty", "figure-time"):
                expect(page.locator(f"[data-figure={chart}]")).to_have_attribute("data-drawn", "true")
            expect(page.locator("#audit")).to_contain_text("started")
            page.screenshot(path=str(ARTIFACTS / "experiment-results.png"), full_page=True)

            arms = {
                a.unit_key: a.variant.key
                for a in UnitAssignment.objects.filter(experiment=experiment).select_related("variant")
            }
            control_rep = next(r for r in reps if arms[f"rep:{r.pk}"] == "control")
            treated_rep = next(r for r in reps if arms[f"rep:{r.pk}"] == "guidance")
            for rep, shows in ((control_rep, False), (treated_rep, True)):
                conversation = open_conversation(team=org.team, rep=rep, external_id=f"live-{rep.username}")
                page.context.clear_cookies()
                login(page, base_url, rep.username)
                page.goto(f"{base_url}/conversations/{conversation.pk}/")
                expect(page.locator("#connection")).to_have_attribute("data-state", "live")
                expect(page.locator("#live")).to_have_attribute("data-guidance", "on" if shows else "off")
                expect(page.locator("#guidance")).to_have_count(1 if shows else 0)
                expect(page.locator("#moved")).to_be_visible()  # the score's own explanation stays
                page.screenshot(
                    path=str(ARTIFACTS / f"experiment-{'treatment' if shows else 'control'}-rep.png")
                )
        browser.close()
