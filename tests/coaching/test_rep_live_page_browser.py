"""A rep walks through a conversation on the live page in Debian's Chromium: probability, guidance,
what moved it and a similar won conversation appear; a thumbs up is stored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from coaching.models import GuidanceFeedback
from conversations import services as conversation_services
from tests.factories import make_conversation
from tests.processes import ARTIFACTS, celery_worker, override_models_dir, web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WON = [
    ("rep", "Hi Dana, thanks for making time. What made you look at new scheduling software?"),
    ("customer", "Our dispatchers lose hours every week juggling spreadsheets."),
    ("rep", "Teams like yours usually cut that in half within a month of switching."),
    ("customer", "That sounds great, what would the next steps be?"),
]


def test_a_rep_sees_probability_guidance_what_moved_it_and_a_similar_won_conversation(
    org, settings, tmp_path
):
    pytest.importorskip("torch", reason="training needs the train extra")
    from coaching import services as coaching_services
    from scoring import services as scoring_services
    from scoring.ml.export_embedder import ensure_local_model
    from scoring.ml.simulator import simulate

    ensure_local_model(Path(settings.STATE_DIR))
    settings.SALESRL_MODELS_DIR = tmp_path / "models"
    records = list(simulate(300, seed=3))
    model = scoring_services.train_and_register(
        records=records,
        source="browser test",
        activate=True,
        epochs=2,
        ppo_iterations=1,
        context_reader="off",
        progress=False,
    )
    coaching_services.train_guidance(
        scoring_model=model, records=records, source="browser test", progress=False
    )
    # Rita won a conversation like this one before (scored in-process: tasks run eagerly here).
    won = make_conversation(team=org.team, rep=org.rep, external_id="dana-won")
    for speaker, text in WON:
        conversation_services.append_turn(conversation=won, speaker=speaker, text=text)
    conversation_services.close_conversation(conversation=won, outcome="won")
    conversation = make_conversation(team=org.team, rep=org.rep, external_id="call-live")

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        with override_models_dir(tmp_path / "models"), celery_worker(), web_server() as base_url:
            page.goto(base_url + "/login/")
            page.fill("input[name=username]", "rita")
            page.fill("input[name=password]", "pw-for-tests")
            page.click("button[type=submit]")
            page.wait_for_url(base_url + "/")
            page.goto(f"{base_url}/conversations/{conversation.pk}/")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(page.locator(".open-list a", has_text="call-live")).to_be_visible()

            for speaker, text in WON[:2]:
                page.select_option("#speaker", speaker)
                page.fill("#turn-text", text)
                page.keyboard.press("Control+Enter")  # keyboard only
                expect(page.locator("#turn-text")).to_have_value("")
            expect(page.locator("#trajectory")).to_have_attribute("data-points", "2", timeout=30_000)
            expect(page.locator("#probability")).to_have_text(re.compile(r"^\d+%$"))
            # Guidance for the last turn, as its own update.
            expect(page.locator("#guidance")).to_have_attribute("data-turn", "1", timeout=30_000)
            assert page.locator("#guidance").get_attribute("data-status") in {"ok", "unclear", "thin"}
            expect(page.locator("#guidance-message")).not_to_be_empty()
            expect(page.locator("#moved")).to_have_attribute("data-turn", "1", timeout=30_000)
            expect(page.locator("#moved")).to_contain_text("last turn")
            expect(page.locator("#similar .similar-item a", has_text="dana-won")).to_be_visible()
            expect(page.locator("#similar .moment").first).not_to_be_empty()
            page.click("#guidance-feedback button[data-helpful=true]")
            expect(page.locator("#guidance-feedback")).to_have_attribute("data-saved", "up")
            page.screenshot(path=str(ARTIFACTS / "rep-live-page-guidance.png"))
        browser.close()
    vote = GuidanceFeedback.objects.get(user=org.rep)
    assert vote.helpful and vote.guidance.conversation_id == conversation.pk
