"""Conversation summaries: the trajectory numbers, guidance followed, and when the worker refreshes them."""

from __future__ import annotations

import pytest

from coaching.models import ConversationSummary, Guidance, TurnAct
from coaching.summaries import Trajectory, guidance_followed, refresh_summary
from conversations import services as conversation_services
from conversations.models import ConversationStatus
from scoring import services as scoring_services
from scoring.models import Score
from tests.coaching.team_data import make_scored
from tests.factories import make_conversation, make_turns


def test_the_trajectory_keeps_first_mid_last_peak_low_and_the_falls():
    t = Trajectory.of([0.5, 0.8, None, 0.6, 0.7, 0.3])
    assert (t.first, t.last, t.peak, t.low) == (0.5, 0.3, 0.8, 0.3)
    assert t.mid == 0.8  # the middle turn (index 2) is unscored: the last score at or before it
    assert t.largest_drop == pytest.approx(0.4) and t.largest_drop_turn == 5
    # The recent fall looks at the last four scored points: max(0.8, 0.6, 0.7, 0.3) - 0.3.
    assert t.recent_drop == pytest.approx(0.5)


def test_a_rising_conversation_has_no_fall_and_an_unscored_one_has_nothing():
    rising = Trajectory.of([0.2, 0.4, 0.6])
    assert rising.largest_drop == 0 and rising.largest_drop_turn is None and rising.recent_drop == 0
    assert Trajectory.of([None, None]) == Trajectory.of([])
    assert Trajectory.of([]).last is None


def test_a_card_counts_once_the_rep_has_answered_it():
    acts = ["small_talk", None, "pricing", None, "discovery_question", None]
    cards = [(0, "pricing"), (2, "value_statement"), (5, "next_step")]
    # After turn 0 the rep's next act was pricing (followed); after turn 2 discovery (ignored); the card
    # after turn 5 has no rep turn yet and is not counted.
    assert guidance_followed(cards, acts) == (2, 1)


@pytest.mark.django_db
def test_a_summary_holds_metrics_trajectory_acts_and_guidance(org):
    conversation = make_scored(
        team=org.team,
        rep=org.rep,
        texts=[
            "Hi! How is your week?",
            "Busy, what is this about?",
            "Our plan costs $40 per seat.",
            "Too much.",
        ],
        probabilities=[0.5, 0.6, 0.62, 0.2],
    )
    turns = list(conversation.turns.order_by("index"))
    # Labelled by hand, so the test does not depend on the classifier (make_scored may have labelled them).
    for turn, act in ((turns[0], "small_talk"), (turns[2], "pricing")):
        TurnAct.objects.update_or_create(
            turn=turn, defaults={"act": act, "score": 1, "method": "rule", "classifier": "test"}
        )
    Guidance.objects.create(
        conversation=conversation,
        turn=turns[1],
        guidance_version="g1",
        scoring_version="m1",
        status="ok",
        top_act="pricing",
        payload={},
    )
    summary = refresh_summary(conversation, embed=False)
    assert summary.turn_count == 4 and summary.scored_turns == 4
    assert summary.rep_words == 11 and summary.customer_words == 7
    assert summary.talk_ratio == pytest.approx(11 / 18)
    assert summary.question_rate == 0.5  # one of the two rep turns asks something
    assert summary.largest_drop == pytest.approx(0.42) and summary.largest_drop_turn == 3
    assert summary.largest_drop_act == "pricing"  # the rep's act right before the fall
    assert (summary.guidance_shown, summary.guidance_followed) == (1, 1)
    assert summary.trajectory == [0.5, 0.6, 0.62, 0.2]
    assert ConversationSummary.objects.filter(search_document="seat").count() == 1


@pytest.mark.django_db
def test_closing_a_conversation_refreshes_its_summary(org, django_capture_on_commit_callbacks):
    conversation = make_scored(team=org.team, rep=org.rep, texts=["Hello", "Hi"], probabilities=[0.4, 0.5])
    assert ConversationSummary.objects.get(pk=conversation.pk).conversation.status == "open"
    with django_capture_on_commit_callbacks(execute=True):
        conversation_services.close_conversation(conversation=conversation, outcome="won")
    summary = ConversationSummary.objects.get(pk=conversation.pk)
    assert summary.updated_at > conversation.started_at


@pytest.mark.django_db
def test_an_import_gets_summaries_and_score_history_scores_it(org, django_capture_on_commit_callbacks):
    lines = [
        '{"id": "a", "converted": true, "turns": [{"speaker": "rep", "text": "Hello there"},'
        ' {"speaker": "customer", "text": "Sounds good, send the contract"}]}',
        '{"id": "b", "converted": false, "turns": [{"speaker": "rep", "text": "Hi"}]}',
    ]
    with django_capture_on_commit_callbacks(execute=True):
        report = conversation_services.import_conversations(lines=lines, team=org.team, rep=org.rep)
    assert report.created == 2
    summaries = ConversationSummary.objects.filter(conversation__team=org.team)
    assert sorted(s.turn_count for s in summaries) == [1, 2]
    assert all(s.last_probability is None for s in summaries)  # history is stored unscored
    # Some closed history elsewhere gives the baseline scorer a rate to report.
    make_conversation(team=org.team, rep=org.rep2, status=ConversationStatus.LOST)
    closed = list(summaries.values_list("conversation", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        stored = scoring_services.score_history(
            conversations=[s.conversation for s in summaries.select_related("conversation")]
        )
    assert stored == 3 and Score.objects.filter(conversation__in=closed).count() == 3
    assert all(s.last_probability is not None for s in ConversationSummary.objects.filter(pk__in=closed))
    # Running it again scores nothing twice.
    assert scoring_services.score_history(conversations=[s.conversation for s in summaries]) == 0


@pytest.mark.django_db
def test_a_summary_survives_an_embedder_that_fails(org, monkeypatch):
    conversation = make_conversation(team=org.team, rep=org.rep)
    make_turns(conversation, "Hello", "Hi")

    def broken(*args, **kwargs):
        raise RuntimeError("embedding backend down")

    monkeypatch.setattr("coaching.summaries.embed_texts", broken)
    monkeypatch.setattr("coaching.summaries.label_rep_turns", broken)
    summary = refresh_summary(conversation)
    assert summary.turn_count == 2 and summary.embedding is None


@pytest.mark.django_db
def test_a_summary_task_skips_conversations_refreshed_since_it_was_requested(org, monkeypatch):
    import datetime as dt

    from django.utils import timezone

    from coaching.tasks import summarise_task

    fresh = make_scored(team=org.team, rep=org.rep, texts=["Hello"], probabilities=[0.5])
    stale = make_scored(team=org.team, rep=org.rep, texts=["Hi"], probabilities=[0.4])
    ConversationSummary.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    requested = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    refreshed: list[int] = []
    monkeypatch.setattr(
        "coaching.summaries.refresh_summary", lambda conversation, **kwargs: refreshed.append(conversation.pk)
    )
    summarise_task([fresh.pk, stale.pk], requested)
    assert refreshed == [stale.pk]


@pytest.mark.django_db
def test_a_live_conversations_summary_is_refreshed_once_per_delay_not_after_every_turn(
    org, settings, monkeypatch
):
    from django.core.cache import cache

    from coaching import receivers
    from coaching.tasks import summarise_task

    settings.SALESRL_SUMMARY_DELAY_S = 5
    conversation = make_conversation(team=org.team, rep=org.rep)
    cache.delete(f"salesrl:summary-due:{conversation.pk}")
    scheduled: list[tuple] = []
    monkeypatch.setattr(
        summarise_task, "apply_async", lambda args, **options: scheduled.append((args, options))
    )
    refreshed: list[int] = []
    monkeypatch.setattr(
        "coaching.summaries.refresh_summary", lambda conversation, **kwargs: refreshed.append(conversation.pk)
    )

    for _ in range(3):  # three turns' guidance within the delay
        receivers.request_live_summary(conversation)

    assert scheduled == [(([conversation.pk],), {"countdown": 5})]  # one refresh, 5 s ahead
    assert refreshed == []  # nothing recomputed inline
    cache.delete(f"salesrl:summary-due:{conversation.pk}")  # the delay has passed
    receivers.request_live_summary(conversation)
    assert len(scheduled) == 2


@pytest.mark.django_db
def test_without_a_delay_the_summary_follows_every_turn(org, settings, monkeypatch):
    from coaching import receivers

    settings.SALESRL_SUMMARY_DELAY_S = 0
    conversation = make_conversation(team=org.team, rep=org.rep)
    refreshed: list[int] = []
    monkeypatch.setattr(
        "coaching.summaries.refresh_summary", lambda conversation, **kwargs: refreshed.append(conversation.pk)
    )
    receivers.request_live_summary(conversation)
    receivers.request_live_summary(conversation)
    assert refreshed == [conversation.pk, conversation.pk]
