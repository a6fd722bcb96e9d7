"""Guidance after every scored turn: acts, the learned advice, nudges, similar won conversations.

The score is pushed first (scoring); guidance follows as its own "guidance" update from its own task,
so it never holds the probability back.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pgvector.django import L2Distance

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, ConversationStatus, Speaker, Turn
from experiments import services as experiments
from salesrl.db import create_or_get_raced
from scoring.ml.state import POSITION_BUCKET_EDGES, position_bucket
from scoring.models import Score, ScoringModel
from scoring.services import current_embedder, embed_texts, load_policy, stored_path, vector_list

from .ml.acts import ActClassifier
from .ml.guidance import GuidanceModel as GuidancePolicy
from .ml.guidance import decision_features, objection_pending
from .ml.nudges import Reference, build_reference, nudges
from .models import Guidance, GuidanceFeedback, GuidanceModel, TurnAct

logger = logging.getLogger(__name__)

SIMILAR_WON = 3
REFERENCE_CONVERSATIONS = 300  # the team's most recent won conversations behind the nudges
REFERENCE_SECONDS = 600
NO_GUIDANCE = "none"

_classifiers: dict[str, ActClassifier] = {}
_policies: dict[str, GuidancePolicy] = {}


def act_classifier() -> ActClassifier:
    """The dialogue-act classifier on the configured embedder, built once per process."""
    embedder = current_embedder()
    if embedder.name not in _classifiers:
        _classifiers[embedder.name] = ActClassifier(embedder)
    return _classifiers[embedder.name]


def turn_dicts(turns: list[Turn]) -> list[dict[str, Any]]:
    return [{"speaker": t.speaker, "text": t.text, "ts": t.ts.timestamp() if t.ts else None} for t in turns]


def label_rep_turns(turns: list[Turn]) -> list[str | None]:
    """The act of each rep turn of `turns` (None for customer turns); labels new rep turns and stores them."""
    stored = dict(TurnAct.objects.filter(turn__in=turns).values_list("turn_id", "act"))
    missing = [i for i, t in enumerate(turns) if t.speaker == Speaker.REP and t.pk not in stored]
    if missing:
        classifier = act_classifier()
        last_customer: list[str | None] = []
        seen: str | None = None
        for t in turns:
            last_customer.append(seen)
            if t.speaker == Speaker.CUSTOMER:
                seen = t.text
        texts = [turns[i].text for i in missing]
        predictions = classifier.classify(
            texts,
            previous_customer=[last_customer[i] for i in missing],
            embeddings=embed_texts(texts, current_embedder()),
        )
        rows = [
            TurnAct(turn=turns[i], act=p.act, score=p.score, method=p.method, classifier=classifier.name)
            for i, p in zip(missing, predictions, strict=True)
        ]
        TurnAct.objects.bulk_create(rows, ignore_conflicts=True)
        stored.update({turns[i].pk: p.act for i, p in zip(missing, predictions, strict=True)})
    return [stored.get(t.pk) if t.speaker == Speaker.REP else None for t in turns]


def load_guidance_policy(row: GuidanceModel) -> GuidancePolicy:
    if row.version not in _policies:
        _policies[row.version] = GuidancePolicy.read(row.folder)
    return _policies[row.version]


def team_reference(team_id: int) -> Reference:
    """Prefix metrics of the team's recent won conversations (coaching.ml.nudges), cached for minutes."""
    key = f"coaching:reference:{team_id}"
    cached = cache.get(key)
    if cached is not None:
        return Reference.from_dict(cached)
    won = list(
        Conversation.objects.filter(team_id=team_id, status=ConversationStatus.WON)
        .order_by("-closed_at")
        .values_list("id", flat=True)[:REFERENCE_CONVERSATIONS]
    )
    grouped: dict[int, list[dict[str, Any]]] = {cid: [] for cid in won}
    for cid, speaker, text, ts in (
        Turn.objects.filter(conversation_id__in=won)
        .order_by("conversation_id", "index")
        .values_list("conversation_id", "speaker", "text", "ts")
    ):
        grouped[cid].append({"speaker": speaker, "text": text, "ts": ts.timestamp() if ts else None})
    reference = build_reference(grouped.values())
    cache.set(key, reference.to_dict(), REFERENCE_SECONDS)
    return reference


def similar_won(score: Score, conversation: Conversation, turn: Turn) -> list[dict[str, Any]]:
    """Up to three won conversations whose state at a similar turn was nearest to this one (pgvector).

    Only the same rep's conversations in the same team: everyone who may watch this conversation (the
    rep, the team's managers, admins) may also see those.
    """
    if score.state_vector is None:
        return []
    vector = vector_list(score.state_vector)
    base = (
        Score.objects.filter(
            model_version=score.model_version,
            state_vector__isnull=False,
            conversation__team_id=conversation.team_id,
            conversation__rep_id=conversation.rep_id,
            conversation__status=ConversationStatus.WON,
        )
        .exclude(conversation_id=conversation.pk)
        .annotate(distance=L2Distance("state_vector", vector))
    )
    bucket = int(position_bucket(turn.index))
    low = POSITION_BUCKET_EDGES[bucket]
    high = POSITION_BUCKET_EDGES[bucket + 1] if bucket + 1 < len(POSITION_BUCKET_EDGES) else 10_000
    matches: dict[int, tuple[int, float]] = {}
    for scope in (base.filter(turn__index__gte=low, turn__index__lt=high), base):
        for cid, index, distance in scope.order_by("distance").values_list(
            "conversation_id", "turn__index", "distance"
        )[:50]:
            matches.setdefault(cid, (index, float(distance)))
        if len(matches) >= SIMILAR_WON:
            break
    chosen = sorted(matches.items(), key=lambda item: item[1][1])[:SIMILAR_WON]
    if not chosen:
        return []
    wanted = {(cid, i) for cid, (index, _) in chosen for i in (index, index + 1)}
    texts = {
        (cid, index): (speaker, text)
        for cid, index, speaker, text in Turn.objects.filter(
            conversation_id__in=[cid for cid, _ in chosen]
        ).values_list("conversation_id", "index", "speaker", "text")
        if (cid, index) in wanted
    }
    names = {c.pk: str(c) for c in Conversation.objects.filter(pk__in=[cid for cid, _ in chosen])}
    similar = []
    for cid, (index, distance) in chosen:
        moment = texts.get((cid, index))
        after = texts.get((cid, index + 1))
        similar.append(
            {
                "conversation_id": cid,
                "title": names.get(cid, f"Conversation {cid}"),
                "url": reverse("conversation-live", args=[cid]),
                "turn_index": index,
                "distance": round(distance, 3),
                "moment": None if moment is None else {"speaker": moment[0], "text": moment[1][:300]},
                "next": None if after is None else {"speaker": after[0], "text": after[1][:300]},
            }
        )
    return similar


def advise(score: Score) -> Guidance | None:
    """Guidance after the turn of `score`, stored and pushed as a "guidance" update. Idempotent per turn
    and guidance version; None for a closed conversation (there is no next step to advise), and for a
    turn that is no longer the conversation's last: its guidance would be stale on arrival, and the
    later turn's own guidance follows. Under load that keeps a queue of guidance work from growing
    faster than the workers can clear it."""
    turn = score.turn
    conversation = score.conversation
    if not conversation.is_open:
        return None
    if Turn.objects.filter(conversation_id=conversation.pk, index__gt=turn.index).exists():
        return None
    if not experiments.guidance_allowed(conversation.pk):
        return None  # the conversation's experiment arm withholds guidance: nothing computed or pushed
    row = (
        GuidanceModel.objects.for_scoring_version(score.model_version)
        if score.probability is not None
        else None
    )
    version = row.version if row is not None else NO_GUIDANCE
    existing = Guidance.objects.filter(turn=turn, guidance_version=version).first()
    if existing is None:
        turns = list(Turn.objects.filter(conversation=conversation, index__lte=turn.index).order_by("index"))
        dicts = turn_dicts(turns)
        acts = label_rep_turns(turns)
        if row is None:
            advice: dict[str, Any] = {
                "status": "unavailable",
                "message": (
                    "No guidance yet: it needs a trained scoring model and a guidance model fitted on its "
                    "states (manage.py train_guidance)."
                ),
                "recommendations": [],
                "avoid": None,
            }
        else:
            policy = load_guidance_policy(row)
            state = decision_features(dicts, acts, float(score.probability))
            advice = policy.advise(
                state, turn_index=len(turns), objection=objection_pending(dicts, acts)
            ).to_dict()
        payload = {
            **advice,
            "last_act": acts[-1],
            "nudges": [n.to_dict() for n in nudges(dicts, team_reference(conversation.team_id))],
            "similar": similar_won(score, conversation, turn),
        }
        existing = create_or_get_raced(
            Guidance,
            unique={"turn": turn, "guidance_version": version},
            conversation=conversation,
            scoring_version=score.model_version,
            status=payload["status"],
            top_act=(payload["recommendations"] or [{}])[0].get("act", ""),
            payload=payload,
        )
    push_guidance(existing, turn=turn)
    return existing


def guidance_payload(guidance: Guidance, *, turn_index: int) -> dict[str, Any]:
    return {
        "id": guidance.pk,
        "turn_index": turn_index,
        "version": guidance.guidance_version,
        "created_at": guidance.created_at.isoformat(),
        **guidance.payload,
    }


def push_guidance(guidance: Guidance, *, turn: Turn) -> None:
    conversation = turn.conversation
    realtime.broadcast(
        conversation_id=conversation.pk,
        team_id=conversation.team_id,
        rep_id=conversation.rep_id,
        payload={
            "type": "guidance",
            "conversation_id": conversation.pk,
            "turn_index": turn.index,
            "guidance": guidance_payload(guidance, turn_index=turn.index),
        },
    )


def latest_guidance(conversation: Conversation, *, user: Any) -> dict[str, Any] | None:
    """The guidance for the conversation's latest advised turn, with `user`'s own vote on it."""
    guidance = (
        Guidance.objects.filter(conversation=conversation)
        .select_related("turn")
        .order_by("-turn__index")
        .first()
    )
    if guidance is None:
        return None
    vote = (
        GuidanceFeedback.objects.filter(guidance=guidance, user=user)
        .values_list("helpful", flat=True)
        .first()
    )
    return {
        **guidance_payload(guidance, turn_index=guidance.turn.index),
        "my_feedback": None if vote is None else ("up" if vote else "down"),
    }


def record_feedback(*, guidance: Guidance, user: Any, helpful: bool) -> dict[str, Any]:
    """Store (or change) `user`'s thumbs up/down on a guidance card; returns the card's tally."""
    now = timezone.now()
    GuidanceFeedback.objects.update_or_create(
        guidance=guidance, user=user, defaults={"helpful": helpful, "updated_at": now}
    )
    votes = list(GuidanceFeedback.objects.filter(guidance=guidance).values_list("helpful", flat=True))
    return {
        "guidance": guidance.pk,
        "helpful": helpful,
        "up": sum(votes),
        "down": len(votes) - sum(votes),
    }


def latest_acts_for_turns(turns: list[Turn]) -> dict[int, str]:
    """{turn_id: act} of the rep turns already labelled (the transcript shows them)."""
    return dict(TurnAct.objects.filter(turn__in=turns).values_list("turn_id", "act"))


# --- Training (torch is imported only inside) -------------------------------------------------------------


def train_guidance(
    *, scoring_model: ScoringModel, records: list[dict[str, Any]], source: str, progress: bool = True
) -> GuidanceModel:
    """Fit the guidance policy on `records` over the states of `scoring_model`, write it, register it."""
    from .ml.guidance_train import build_decisions, fit_guidance

    embedder = current_embedder()
    policy = load_policy(scoring_model, embedder)
    decisions = build_decisions(
        records, policy=policy, embedder=embedder, classifier=act_classifier(), progress=progress
    )
    fitted = fit_guidance(decisions, scoring_version=scoring_model.version, progress=progress)
    folder = fitted.write(Path(settings.SALESRL_MODELS_DIR) / "guidance" / fitted.version)
    row, _ = GuidanceModel.objects.update_or_create(
        version=fitted.version,
        defaults={
            "scoring_model": scoring_model,
            "path": stored_path(folder),
            "meta": fitted.meta,
            "training_source": source[:300],
        },
    )
    return row
