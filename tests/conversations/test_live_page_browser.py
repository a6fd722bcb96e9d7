"""The live page in Debian's Chromium, against real daphne, worker, Redis and PostgreSQL."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import ApiToken
from tests.factories import make_conversation
from tests.processes import ARTIFACTS, celery_worker, free_port, override_models_dir, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_post(base_url: str, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def log_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")


def test_the_chart_updates_as_turns_arrive_and_backfills_after_a_dropped_connection(browser, org):
    make_conversation(team=org.team, rep=org.rep2, status="won")
    make_conversation(team=org.team, rep=org.rep2, status="lost")
    conversation = make_conversation(team=org.team, rep=org.rep, external_id="call-42")
    _, token = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
    port = free_port()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    ARTIFACTS.mkdir(exist_ok=True)

    with celery_worker():
        with web_server(port) as base_url:
            log_in(page, base_url, "rita")
            expect(page.locator("tr[data-conversation] a", has_text="call-42")).to_be_visible()
            page.click("text=call-42")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(page.locator("#probability")).to_have_text("—")

            api_post(
                base_url,
                f"/api/v1/conversations/{conversation.pk}/turns/",
                token,
                {"speaker": "rep", "text": "Thanks for joining. What made you look at us?"},
            )
            expect(page.locator("#transcript li")).to_have_count(1)
            expect(page.locator("#trajectory")).to_have_attribute("data-points", "1", timeout=15_000)
            expect(page.locator("#trajectory .scatterlayer .point")).to_have_count(1)
            expect(page.locator("#probability")).to_have_text("50%")
            expect(page.locator("#model-note")).to_contain_text("No model trained yet")
            page.screenshot(path=str(ARTIFACTS / "live-page.png"))

        # The web server is gone: the page notices and retries; a turn arrives meanwhile.
        expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        services.append_turn(conversation=conversation, speaker="customer", text="Our renewal is due in May.")

        with web_server(port):
            # On reconnect the snapshot backfills the missed turn and its score.
            expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=30_000)
            expect(page.locator("#transcript li")).to_have_count(2)
            expect(page.locator("#trajectory")).to_have_attribute("data-points", "2", timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / "live-page-after-reconnect.png"))
    page.close()


def test_a_rep_types_a_turn_on_the_page_and_closes_the_conversation(browser, org):
    conversation = make_conversation(team=org.team, rep=org.rep, external_id="chat-7")
    page = browser.new_page()
    with celery_worker(), web_server() as base_url:
        log_in(page, base_url, "rita")
        page.goto(f"{base_url}/conversations/{conversation.pk}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        page.select_option("#speaker", "customer")
        page.fill("#turn-text", "Can you send the pricing sheet?")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#transcript li .text")).to_have_text(["Can you send the pricing sheet?"])
        expect(page.locator("#speaker")).to_have_value("rep")  # next turn defaults to the other side
        page.fill("#turn-text", "\u0007")
        page.click("#turn-form button[type=submit]")
        expect(page.locator("#form-error")).to_contain_text("control characters")
        page.click("button[data-outcome=won]")
        expect(page.locator("#status")).to_have_text("Won")
        expect(page.locator("#turn-form")).to_be_hidden()
    conversation.refresh_from_db()
    assert conversation.status == "won" and conversation.turns.count() == 1
    page.close()


def test_a_live_turn_is_scored_by_the_active_model_and_the_page_names_it(browser, org, settings, tmp_path):
    pytest.importorskip("torch", reason="training needs the train extra")
    from pathlib import Path

    from scoring import services as scoring_services
    from scoring.ml.export_embedder import ensure_local_model
    from scoring.ml.simulator import simulate

    ensure_local_model(Path(settings.STATE_DIR))
    settings.SALESRL_MODELS_DIR = tmp_path / "models"
    model = scoring_services.train_and_register(
        records=list(simulate(200, seed=3)),
        source="browser test",
        activate=True,
        epochs=2,
        ppo_iterations=1,
        context_reader="off",  # the reader's live path is covered in tests/scoring/test_model_path.py
        progress=False,
    )
    conversation = make_conversation(team=org.team, rep=org.rep, external_id="call-model")
    _, token = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
    page = browser.new_page()
    # The worker and web server find the model folder through the same setting.
    with override_models_dir(tmp_path / "models"), celery_worker(), web_server() as base_url:
        log_in(page, base_url, "rita")
        page.goto(f"{base_url}/conversations/{conversation.pk}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        api_post(
            base_url,
            f"/api/v1/conversations/{conversation.pk}/turns/",
            token,
            {"speaker": "customer", "text": "We need this live before the end of the quarter."},
        )
        expect(page.locator("#trajectory")).to_have_attribute("data-points", "1", timeout=30_000)
        expect(page.locator("#model-note")).to_contain_text(model.version)
        expect(page.locator("#model-note")).to_have_attribute("data-kind", "model")
        # The confidence follows the probability as a second update and draws its band on the chart.
        expect(page.locator("#trajectory")).to_have_attribute("data-banded", "1", timeout=30_000)
        expect(page.locator("#confidence")).to_have_text(re.compile(r"^\d+%"))
        level = page.locator("#confidence").get_attribute("data-level")
        assert level in {"ok", "low"}
        if level == "low":  # said plainly, with the reason
            expect(page.locator("#confidence")).to_contain_text("low")
            expect(page.locator("#confidence-reasons li").first).to_be_visible()
        api_post(
            base_url,
            f"/api/v1/conversations/{conversation.pk}/turns/",
            token,
            {"speaker": "rep", "text": "Understood. What would going live by then be worth to your team?"},
        )
        expect(page.locator("#trajectory")).to_have_attribute("data-banded", "2", timeout=30_000)
        assert page.locator("#trajectory .scatterlayer .trace").count() == 3  # band edges + line
        page.screenshot(path=str(ARTIFACTS / "live-page-model.png"))
    page.close()
