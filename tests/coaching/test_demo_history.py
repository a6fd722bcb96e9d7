"""The demo's simulated history: every demo rep gets closed conversations spread over the weeks, once."""

from __future__ import annotations

import datetime as dt

import pytest

from django.utils import timezone

from coaching.demo import seed_demo_history
from conversations.demo import seed_demo
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


def test_each_demo_rep_gets_closed_history_over_the_weeks_and_a_rerun_adds_nothing():
    seed_demo(passwords={}, existing_tokens={})
    before = Conversation.objects.count()
    result = seed_demo_history(per_rep=4, weeks=6)
    assert result.created == 6 * 4 and result.skipped == 0
    history = Conversation.objects.filter(external_id__startswith="demo-")
    assert history.count() == 24 and Conversation.objects.count() == before + 24
    assert not history.open().exists()
    oldest = min(c.started_at for c in history)
    assert timezone.now() - oldest < dt.timedelta(weeks=6)
    assert timezone.now() - oldest > dt.timedelta(weeks=4)
    # Skilled Rita and random Tom sell differently (the simulator's policies).
    assert {c.metadata.get("policy") for c in history.filter(rep__username="rita")} != {
        c.metadata.get("policy") for c in history.filter(rep__username="tom")
    }
    assert seed_demo_history(per_rep=4, weeks=6).created == 0
