"""Scoring turns: the scorer interface, the baseline scorer, storing and pushing scores."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, ConversationStatus, Turn
from salesrl.db import create_or_get_raced

from .ml.attribution import Moved, what_moved
from .ml.confidence import NEIGHBOURS, NeighbourIndex, position_bucket, unseen_word_rates
from .ml.embeddings import (
    LOCAL_BACKEND,
    LOCAL_EMBEDDER_NAME,
    CachedEmbedder,
    Embedder,
    EmbeddingUnavailable,
    content_hash,
    load_embedder,
)
from .ml.inference import ArtifactError, PolicyModel, Prediction
from .ml.state import StateEncoder, StateSpec
from .models import ConversationState, EmbeddingCache, Score, ScoringModel, TrainingState
from .signals import history_scored, score_stored

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    probability: float | None
    confidence: float | None
    details: dict[str, Any] = field(default_factory=dict)
    # The state in the model's similarity space: the confidence step searches its neighbours.
    state_vector: list[float] | None = None


class TurnScorer(Protocol):
    """What the live path needs from a scorer: a version label and a score for a stored turn.

    The score may only use the conversation up to and including `turn` (never later turns or
    the outcome of the conversation itself).
    """

    version: str

    def score(self, turn: Turn) -> ScoreResult: ...


class BaselineScorer:
    """No trained model yet: the team's historical conversion rate, with zero confidence.

    It says nothing about this conversation; it is the honest prior until a model is trained.
    Falls back to the whole organisation's rate, and to no number at all without any history.
    """

    version = "baseline:team-rate"

    def __init__(self, problem: str = "") -> None:
        self.problem = problem

    def score(self, turn: Turn) -> ScoreResult:
        conversation = turn.conversation
        history = Conversation.objects.exclude(pk=conversation.pk)
        rate, closed = history.filter(team_id=conversation.team_id).conversion_rate()
        basis = "team"
        if rate is None:
            rate, closed = history.conversion_rate()
            basis = "organisation"
        if rate is None:
            basis = "none"
        return ScoreResult(
            probability=rate,
            confidence=0.0,
            details={
                "kind": "baseline",
                "basis": basis,
                "closed_conversations": closed,
                "note": self.problem
                or "No model trained yet: this is the historical conversion rate, not a "
                "prediction for this conversation.",
            },
        )


class ModelScorer:
    """The active trained policy network, fed by the incremental state encoder of each conversation."""

    def __init__(self, model: PolicyModel, embedder: Embedder) -> None:
        self.model = model
        self.embedder = embedder
        self.version = model.version

    def score(self, turn: Turn) -> ScoreResult:
        with transaction.atomic():
            row, _ = ConversationState.objects.select_for_update().get_or_create(
                conversation_id=turn.conversation_id, model_version=self.version
            )
            if row.turns_seen > turn.index:
                # Already folded in (a redelivered task, or a later turn caught up first): replay the
                # prefix from scratch rather than touch the stored state.
                folded = self._fold(StateEncoder(self.model.spec), turn, start=0)
            else:
                encoder = (
                    StateEncoder.from_dict(self.model.spec, row.encoder)
                    if row.turns_seen
                    else StateEncoder(self.model.spec)
                )
                folded = self._fold(encoder, turn, start=row.turns_seen)
                if folded.before is None and row.turns_seen:
                    folded.before = decode_static(row.encoder.get("last_static"))
                # The last static state rides along so the next turn can say what moved its probability.
                row.encoder = {**folded.encoder.to_dict(), "last_static": encode_static(folded.static)}
                row.turns_seen = folded.encoder.turns_seen
                row.updated_at = timezone.now()
                row.save(update_fields=["encoder", "turns_seen", "updated_at"])
        heads = folded.prediction.head_probs[0]
        raw = float(folded.prediction.probability[0])
        details: dict[str, Any] = {
            "kind": "model",
            "model_version": self.version,
            "head_probabilities": [round(float(h), 4) for h in heads],
            "ensemble_spread": round(float(np.std(heads)), 4),
            "embedder": self.embedder.name,
        }
        confidence = self.model.confidence
        if confidence is None:  # a model from before calibration: its probability as it is
            return ScoreResult(probability=raw, confidence=None, details=details)
        vector, residual = confidence.projection.project(folded.static)
        if folded.before is not None and folded.raw_before is not None:
            details["moved"] = self._moved(folded, turn).to_dict()
        details.update(
            raw_probability=round(raw, 6),
            calibration=confidence.calibrator.method,
            subspace_distance=float(residual[0]),
            confidence_pending=True,
        )
        return ScoreResult(
            probability=float(confidence.calibrate([raw], [turn.index])[0]),
            confidence=None,  # follows in a second update (estimate_confidence): it needs a neighbour search
            details=details,
            state_vector=[float(v) for v in vector[0]],
        )

    def _moved(self, folded: _Folded, turn: Turn) -> Moved:
        """What moved the calibrated probability from the turn before to this one (scoring.ml.attribution)."""
        confidence = self.model.confidence
        assert confidence is not None and folded.before is not None and folded.raw_before is not None
        return what_moved(
            spec=self.model.spec,
            predict=lambda states: self.model.predict(states).probability,
            calibrate=lambda raw: confidence.calibrate(raw, np.full(len(raw), turn.index)),
            static_before=folded.before,
            static_now=folded.static,
            previous=folded.full_state[len(folded.static) :],
            probability_before=float(confidence.calibrate([folded.raw_before], [turn.index - 1])[0]),
            speaker=turn.speaker,
        )

    def _fold(self, encoder: StateEncoder, turn: Turn, *, start: int) -> _Folded:
        """Fold turns start..turn.index into `encoder`, predicting after each."""
        turns = (
            [turn]  # the usual live case: the state has every turn before this one
            if start == turn.index
            else list(
                Turn.objects.filter(
                    conversation_id=turn.conversation_id, index__gte=start, index__lte=turn.index
                )
                .order_by("index")
                .only("index", "speaker", "text", "ts")
            )
        )
        vectors = embed_texts([t.text for t in turns], self.embedder)
        reader = self.model.context.encode_one if self.model.context is not None else None
        folded: _Folded | None = None
        for item, vector in zip(turns, vectors, strict=True):
            static = encoder.update(
                speaker=item.speaker,
                text=item.text,
                embedding=vector,
                ts=item.ts.timestamp() if item.ts else None,
                context=reader,
            )
            full_state = encoder.full_state(static)
            prediction = self.model.predict(full_state[None, :])
            folded = _Folded(
                encoder=encoder,
                prediction=prediction,
                static=static,
                full_state=full_state,
                before=None if folded is None else folded.static,
                raw_before=encoder.probabilities[-1] if encoder.probabilities else None,
            )
            # The raw estimate: the networks were trained reading their own uncalibrated outputs.
            encoder.record_probability(float(prediction.probability[0]))
        assert folded is not None  # turn itself is always among `turns`
        return folded


@dataclass
class _Folded:
    """The encoder after folding up to a turn, with what the last prediction saw."""

    encoder: StateEncoder
    prediction: Prediction
    static: np.ndarray
    full_state: np.ndarray
    before: np.ndarray | None  # the static state after the turn before (None when unknown)
    raw_before: float | None  # the raw probability after the turn before


_embedders: dict[str, Embedder] = {}
_models: dict[str, PolicyModel] = {}
# Remote embedders that failed lately, in this process: name -> (monotonic time until which turns go
# straight to the stand-in, why it failed). Without it every turn would wait out all retries again.
_backend_down: dict[str, tuple[float, str]] = {}


def embedder_of_kind(kind: str) -> Embedder:
    """The embedding backend `kind`, loaded once per process (with an in-memory LRU). Remote backends
    get the timeout and retries of the settings: the openai defaults (a 600 s read timeout) would hold
    a scoring task for half an hour when the API hangs."""
    if kind not in _embedders:
        inner = load_embedder(
            kind,
            state_dir=Path(settings.STATE_DIR),
            max_retries=settings.SALESRL_EMBEDDING_MAX_RETRIES,
            timeout=float(settings.SALESRL_EMBEDDING_TIMEOUT_S),
        )
        _embedders[kind] = CachedEmbedder(inner)
    return _embedders[kind]


def current_embedder() -> Embedder:
    """The configured embedding backend, loaded once per process (with an in-memory LRU)."""
    return embedder_of_kind(settings.SALESRL_EMBEDDER)


def embedder_for_model(model: ScoringModel) -> Embedder:
    """The backend a registered model was trained on: the local one, or the configured one."""
    trained_on = model.sidecar.get("state", {}).get("embedding_name")
    return embedder_of_kind(LOCAL_BACKEND) if trained_on == LOCAL_EMBEDDER_NAME else current_embedder()


def encode_static(static: np.ndarray) -> str:
    """A static state as base64 float32 (a JSON list of 800 floats would be ~5x larger)."""
    return base64.b64encode(np.asarray(static, dtype="<f4").tobytes()).decode()


def decode_static(value: str | None) -> np.ndarray | None:
    return None if not value else np.frombuffer(base64.b64decode(value), dtype="<f4").copy()


def vector_list(value: Any) -> list[float]:
    """A pgvector field's value as floats: HalfVector when read from the database, a list before."""
    return [float(v) for v in (value.to_list() if hasattr(value, "to_list") else value)]


def embed_texts(texts: list[str], embedder: Embedder) -> np.ndarray:
    """Embeddings for `texts`, from the database cache where present; the rest embedded and stored."""
    hashes = [content_hash(text) for text in texts]
    stored = {
        row.content_hash: np.asarray(vector_list(row.vector), dtype=np.float32)
        for row in EmbeddingCache.objects.filter(embedder=embedder.name, content_hash__in=set(hashes))
    }
    missing = sorted({(h, t) for h, t in zip(hashes, texts, strict=True) if h not in stored})
    if missing:
        # Rounded to half precision as stored (halfvec), so a text embedded now and the same text read
        # back from the cache later give the same state.
        vectors = embedder.embed([text for _, text in missing]).astype(np.float16).astype(np.float32)
        EmbeddingCache.objects.bulk_create(
            [
                EmbeddingCache(embedder=embedder.name, content_hash=h, vector=v.tolist())
                for (h, _), v in zip(missing, vectors, strict=True)
            ],
            ignore_conflicts=True,
        )
        stored.update({h: v for (h, _), v in zip(missing, vectors, strict=True)})
    return np.stack([stored[h] for h in hashes]).astype(np.float32)


def load_policy(model: ScoringModel, embedder: Embedder) -> PolicyModel:
    """The ONNX session of a registered model, loaded once per process and checked against the runtime."""
    if model.version not in _models:
        expect = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
        # The training states are in PostgreSQL (TrainingState): the process need not hold them.
        _models[model.version] = PolicyModel.load(model.folder, expect=expect, neighbours=False)
    return _models[model.version]


def active_scorer() -> TurnScorer:
    """The scorer the live path uses: the active trained model, else the honest baseline."""
    model = ScoringModel.objects.active()
    if model is None:
        return BaselineScorer()
    try:
        embedder = current_embedder()
        return ModelScorer(load_policy(model, embedder), embedder)
    except (ArtifactError, OSError, ValueError) as exc:
        # A broken or mismatched artifact must not stop scoring: fall back loudly, and say why.
        logger.error("active model %s cannot serve: %s; using the baseline", model.version, exc)
        return BaselineScorer(problem=f"The active model {model.version} cannot serve: {exc}")


def stand_in_scorer(*, reason: str) -> TurnScorer:
    """The scorer for turns the active model cannot embed (its remote backend is down): the newest
    registered model trained on the local embedder, else the baseline.

    A policy network only understands the embeddings it was trained on, so the active model cannot just
    read local vectors instead; a model of its own on the local embedder can.
    """
    model = (
        ScoringModel.objects.filter(sidecar__state__embedding_name=LOCAL_EMBEDDER_NAME)
        .order_by("-created_at")
        .first()
    )
    if model is not None:
        try:
            embedder = embedder_of_kind(LOCAL_BACKEND)
            return ModelScorer(load_policy(model, embedder), embedder)
        except (ArtifactError, OSError, ValueError) as exc:
            logger.error("stand-in model %s cannot serve: %s; using the baseline", model.version, exc)
    return BaselineScorer(
        problem=f"The embedding backend failed ({reason}): this is the historical conversion rate, "
        "not a prediction for this conversation."
    )


def _score_or_stand_in(scorer: TurnScorer, turn: Turn) -> tuple[TurnScorer, ScoreResult]:
    """`scorer`'s result for `turn`, or, when its embedding backend fails after the client's retries (or
    failed within the cool-down), a stand-in's, with details["fallback"] saying why and instead of what."""
    backend = getattr(scorer, "embedder", None)
    name = backend.name if backend is not None else ""
    until, reason = _backend_down.get(name, (0.0, ""))
    if time.monotonic() < until:
        reason = f"{reason} (not asked again for {settings.SALESRL_EMBEDDING_COOLDOWN_S}s after failing)"
    else:
        try:
            return scorer, scorer.score(turn)
        except EmbeddingUnavailable as exc:
            reason = str(exc)
            if exc.transient:
                _backend_down[name] = (time.monotonic() + settings.SALESRL_EMBEDDING_COOLDOWN_S, reason)
            logger.warning("turn %s: %s; scoring with a stand-in", turn.pk, reason)
    stand_in = stand_in_scorer(reason=reason)
    result = stand_in.score(turn)
    stand_in_embedder = getattr(stand_in, "embedder", None)
    fallback = {
        "reason": reason,
        "embedder": stand_in_embedder.name if stand_in_embedder is not None else None,
        "from": name,
        "instead_of": scorer.version,
    }
    return stand_in, replace(result, details={**result.details, "fallback": fallback})


def _answers_for(version: str) -> Q:
    """Scores that stand for `version` on a turn: its own, and a stand-in's stored in its place."""
    return Q(model_version=version) | Q(details__fallback__instead_of=version)


def enqueue(task: Any, *args: Any) -> bool:
    """`task.delay(*args)`; False (logged, not raised) when the broker cannot be reached.

    For work enqueued after a commit: the row is stored by then, and an exception from an on_commit
    callback would turn a stored turn into a 500 (and skip the callbacks after it). Scoring lost this
    way is enqueued again by requeue_unscored.
    """
    try:
        task.delay(*args)
    except Exception as exc:  # kombu's OperationalError, a redis error, anything the broker raises
        logger.warning("%s%r not enqueued: %s: %s", task.name, tuple(args), type(exc).__name__, exc)
        return False
    return True


def score_payload(score: Score) -> dict[str, Any]:
    return {
        "probability": score.probability,
        "confidence": score.confidence,
        "model_version": score.model_version,
        "details": score.details,
        "scored_at": score.scored_at.isoformat(),
    }


def score_turn(*, turn: Turn, scorer: TurnScorer | None = None) -> Score:
    """Score one turn with the active scorer, store it and push it to the turn's watchers.

    Idempotent per (turn, scorer version): a repeated call returns the stored score and pushes it
    again, so a redelivered task still reaches a page that missed the first push. A model score is
    stored with its confidence pending: estimate_confidence is the second step (score_live_turn).
    When the scorer's remote embedding backend is down the turn is scored by a stand-in
    (stand_in_scorer), which then answers for the scorer's version on this turn: it is not scored again
    when the backend is back.
    """
    scorer = scorer or active_scorer()
    existing = Score.objects.filter(_answers_for(scorer.version), turn=turn).first()
    if existing is None:
        scorer, result = _score_or_stand_in(scorer, turn)
        now = timezone.now()
        existing = create_or_get_raced(
            Score,
            unique={"turn": turn, "model_version": scorer.version},
            conversation_id=turn.conversation_id,
            probability=result.probability,
            confidence=result.confidence,
            details=result.details,
            scored_at=now,
            latency_ms=(now - turn.created_at).total_seconds() * 1000,
            state_vector=result.state_vector,
        )
    # Related rows the pushes and the confidence step read: already loaded with the turn.
    existing.turn = turn
    existing.conversation = turn.conversation
    push_score(existing, turn=turn, kind="score")
    score_stored.send(sender=Score, score=existing, turn=turn)
    return existing


def score_live_turn(*, turn: Turn) -> Score:
    """What the worker does for a new turn: score it and push the probability, then estimate and push
    its confidence (estimate_confidence), in that order and in the same task.

    The probability is out before the neighbour search starts, so it never waits for the confidence.
    One task rather than two spares a broker round trip and reloading the score, its turn and model.
    A confidence step that fails is left to the sweep (requeue_unscored), which finds the score still
    pending one.
    """
    score = score_turn(turn=turn)
    if score.confidence is None and score.state_vector is not None:
        score = estimate_confidence(score)
    return score


def estimate_confidence(score: Score) -> Score:
    """Add the confidence to a model score (neighbour search in pgvector, novelty, the combiner), store
    it and push it as a "confidence" update. Idempotent: a score that has one is pushed again as is."""
    conversation, turn = score.conversation, score.turn
    if score.confidence is None:
        model_row = ScoringModel.objects.filter(version=score.model_version).first()
        if model_row is None or score.state_vector is None:
            return score
        # A stand-in's score is the local model's: load it with the embedder it was trained on.
        policy = load_policy(model_row, embedder_for_model(model_row))
        confidence = policy.confidence
        if confidence is None:
            return score
        vector = vector_list(score.state_vector)
        bucket = int(position_bucket(turn.index))
        neighbours = TrainingState.objects.nearest(
            model_id=model_row.pk, bucket=bucket, vector=vector, k=NEIGHBOURS
        )
        distances = np.full((1, NEIGHBOURS), np.nan)
        labels = np.full((1, NEIGHBOURS), np.nan)
        for j, (distance, converted) in enumerate(neighbours):
            distances[0, j], labels[0, j] = distance, float(converted)
        texts = list(
            Turn.objects.filter(conversation_id=conversation.pk, index__lte=turn.index)
            .order_by("index")
            .values_list("text", flat=True)
        )
        unknown_industry = confidence.unknown_industry(conversation.industry)
        details = score.details
        estimates = confidence.estimate(
            p_raw=[details["raw_probability"]],
            head_probs=np.asarray([details["head_probabilities"]]),
            turn_index=[turn.index],
            subspace_distance=[details["subspace_distance"]],
            neighbour_distances=distances,
            neighbour_labels=labels,
            unseen_words=[unseen_word_rates(texts, confidence.vocabulary)[-1]],
            unknown_industry=bool(unknown_industry),
        )
        row = estimates.row(reasons=confidence.reasons(estimates, unknown_industry=unknown_industry))
        row["neighbours_found"] = len(neighbours)
        # Only this step changes a score after it is stored, so its details are as read; the condition
        # keeps the first of two concurrent runs (a redelivery racing the sweep), which then both push it.
        completed = {
            **{k: v for k, v in details.items() if k != "confidence_pending"},
            "confidence": row,
        }
        stored = Score.objects.filter(pk=score.pk, confidence__isnull=True).update(
            confidence=row["confidence"], details=completed
        )
        if stored:
            score.confidence, score.details = row["confidence"], completed
        else:
            score = Score.objects.get(pk=score.pk)
            score.turn, score.conversation = turn, conversation
    push_score(score, turn=turn, kind="confidence")
    return score


@dataclass(frozen=True)
class Requeued:
    """What one sweep enqueued again."""

    turn_ids: list[int]  # turns scored again
    score_ids: list[int]  # scores whose confidence step was enqueued again


def requeue_unscored(*, older_than: dt.timedelta, limit: int = 500) -> Requeued:
    """Enqueue scoring again for turns of open conversations stored more than `older_than` ago that have
    no score by the active scorer, and the confidence step of model scores still pending one after as
    long: their message was lost (a worker killed mid-task, a Redis restart, an enqueue that failed while
    Redis was down). Both tasks are idempotent, so a turn that was merely slow costs one cheap task.

    Oldest first, at most `limit` of each. A turn or score enqueued here is not enqueued again for
    `older_than` (a long queue would otherwise gain a copy of its head on every run). Turns stored before
    the active model was activated belong to its predecessor: rescoring those is score_history's job.
    """
    from .tasks import estimate_confidence_task, score_turn_task

    version = active_scorer().version
    cutoff = timezone.now() - older_than
    turns = Turn.objects.filter(conversation__status=ConversationStatus.OPEN, created_at__lt=cutoff)
    model = ScoringModel.objects.active()
    if model is not None and model.activated_at is not None:
        turns = turns.filter(created_at__gte=model.activated_at)
    scored = Score.objects.filter(_answers_for(version), turn_id=OuterRef("pk"))
    unscored = turns.exclude(Exists(scored)).order_by("created_at", "pk").values_list("pk", flat=True)
    turn_ids = _claim_up_to(limit, unscored, lambda pk: f"turn:{pk}:{version}", older_than)
    pending = (
        Score.objects.filter(
            conversation__status=ConversationStatus.OPEN,
            confidence__isnull=True,
            state_vector__isnull=False,
            details__has_key="confidence_pending",
            scored_at__lt=cutoff,
            model_version__in=ScoringModel.objects.values("version"),
        )
        .order_by("scored_at", "pk")
        .values_list("pk", flat=True)
    )
    score_ids = _claim_up_to(limit, pending, lambda pk: f"confidence:{pk}", older_than)
    for pk in turn_ids:
        score_turn_task.delay(pk)
    for pk in score_ids:
        estimate_confidence_task.delay(pk)
    if turn_ids or score_ids:
        logger.warning(
            "sweep: re-enqueued %d unscored turn(s) %s and %d pending confidence(s) %s for %s",
            len(turn_ids),
            turn_ids,
            len(score_ids),
            score_ids,
            version,
        )
    return Requeued(turn_ids=turn_ids, score_ids=score_ids)


def _claim_up_to(limit: int, ids: Any, key: Callable[[int], str], period: dt.timedelta) -> list[int]:
    """The first `limit` of `ids` not claimed in the last `period`, claiming them (in the cache, so every
    process sees the claim). Claimed ones are skipped rather than counted, so a backlog keeps moving; the
    scan stops after 4 x limit rows either way."""
    timeout = max(1, int(period.total_seconds()))
    claimed: list[int] = []
    for pk in ids[: limit * 4]:
        if cache.add(f"salesrl:sweep:{key(pk)}", 1, timeout=timeout):
            claimed.append(pk)
            if len(claimed) == limit:
                break
    return claimed


def score_history(
    *, conversations: Iterable[Conversation], scorer: TurnScorer | None = None, progress: Any = None
) -> int:
    """Score every turn of `conversations` (closed history, e.g. imported) that the active scorer has not
    scored, turn by turn exactly as the live path does, but without pushing or advising: nobody watches
    history live. Lets the dashboards test the model against outcomes the team already knows.

    Returns the number of scores stored; sends history_scored with the conversations that got some.
    `progress`, when given, is called once per conversation.
    """
    scorer = scorer or active_scorer()
    stored = 0
    touched: list[int] = []
    for conversation in conversations:
        done = set(
            Score.objects.filter(conversation=conversation, model_version=scorer.version).values_list(
                "turn_id", flat=True
            )
        )
        new = 0
        for turn in Turn.objects.filter(conversation=conversation).order_by("index"):
            if turn.pk in done:
                continue
            turn.conversation = conversation
            result = scorer.score(turn)
            _, created = Score.objects.get_or_create(
                turn=turn,
                model_version=scorer.version,
                defaults={
                    "conversation_id": conversation.pk,
                    "probability": result.probability,
                    "confidence": result.confidence,
                    "details": {k: v for k, v in result.details.items() if k != "confidence_pending"},
                    "state_vector": result.state_vector,
                },
            )
            new += created
        if new:
            stored += new
            touched.append(conversation.pk)
        if progress is not None:
            progress(conversation)
    if touched:
        history_scored.send(sender=Score, conversation_ids=touched)
    return stored


def push_score(score: Score, *, turn: Turn, kind: str) -> None:
    """Push a stored score to the turn's watchers as a "score" (step one) or "confidence" (step two)."""
    conversation = turn.conversation
    realtime.broadcast(
        conversation_id=conversation.pk,
        team_id=conversation.team_id,
        rep_id=conversation.rep_id,
        payload={
            "type": kind,
            "conversation_id": conversation.pk,
            "turn_index": turn.index,
            "score": score_payload(score),
        },
    )


def latest_scores_for_turns(turns: Sequence[Turn]) -> dict[int, dict[str, Any]]:
    """{turn_id: latest score payload} for the given turns, in one query."""
    latest: dict[int, dict[str, Any]] = {}
    scores = Score.objects.filter(turn_id__in=[t.pk for t in turns]).order_by("turn_id", "scored_at")
    for score in scores:
        latest[score.turn_id] = score_payload(score)
    return latest


# --- Training and registering model versions (torch is imported only inside these functions) ----


def training_records_from_database(*, team_slug: str | None = None) -> list[dict[str, Any]]:
    """Closed conversations in the JSONL interchange shape (imported ones keep meta.leak_turn)."""
    from conversations.services import export_conversation_line

    closed = Conversation.objects.closed().select_related("team", "rep").prefetch_related("turns")
    if team_slug:
        closed = closed.filter(team__slug=team_slug)
    return [json.loads(export_conversation_line(c)) for c in closed.iterator(chunk_size=500)]


def train_and_register(
    *,
    records: list[dict[str, Any]],
    source: str,
    activate: bool = False,
    ppo: bool = True,
    epochs: int | None = None,
    ppo_iterations: int | None = None,
    context_reader: str = "auto",
    context_samples: int | None = None,
    drop_last: bool = False,
    progress: bool = True,
) -> ScoringModel:
    """Train on `records` (context reader, supervised, then PPO), export to ONNX, register, optionally
    activate. `context_reader`: "auto", "on" or "off" (see scoring.ml.train.TrainConfig)."""
    from .ml.dataset import encode_conversations
    from .ml.export import export_model
    from .ml.protocol import honest_turns
    from .ml.train import TrainConfig, train_model

    embedder = current_embedder()
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    data = encode_conversations(
        records,
        turns_of=lambda r: honest_turns(r, drop_last=drop_last),
        embedder=embedder,
        spec=spec,
        progress=progress,
    )
    if len(data) < 20 or len(set(data.labels.tolist())) < 2:
        raise ValueError(f"need at least 20 conversations with both outcomes to train, got {len(data)}")
    config = TrainConfig(context_reader=context_reader)
    if context_samples is not None:
        config.context_samples = context_samples
    if epochs is not None:
        config.epochs = epochs
    if ppo_iterations is not None:
        config.ppo_iterations = ppo_iterations
    result = train_model(data, config, progress=progress, ppo_stage=ppo)
    folder = export_model(
        result,
        Path(settings.SALESRL_MODELS_DIR) / "scoring",
        training={
            "source": source,
            "conversations": len(data),
            "states": len(data.static),
            "drop_last": drop_last,
            "context_reader": result.context_net is not None,
        },
    )
    return register_model(folder=folder, source=source, activate=activate)


def stored_path(folder: Path) -> str:
    """A model folder as stored: relative to SALESRL_MODELS_DIR when inside it (so a moved state folder
    keeps working), else absolute."""
    models_dir = Path(settings.SALESRL_MODELS_DIR).resolve()
    resolved = folder.resolve()
    return str(resolved.relative_to(models_dir)) if resolved.is_relative_to(models_dir) else str(resolved)


def register_model(*, folder: Path, source: str = "", activate: bool = False) -> ScoringModel:
    """Record a model version folder (checked by loading it) and optionally make it live."""
    policy = PolicyModel.load(folder)
    model, _ = ScoringModel.objects.update_or_create(
        version=policy.version,
        defaults={
            "path": stored_path(folder),
            "sha256": policy.sidecar["files"][policy.sidecar["served"]],
            "sidecar": policy.sidecar,
            "metrics": policy.sidecar.get("metrics", {}),
            "training_source": source[:300],
        },
    )
    if policy.confidence is not None and policy.confidence.neighbours is not None:
        store_training_states(model, policy.confidence.neighbours)
    if activate:
        model.activate()
    return model


def store_training_states(model: ScoringModel, neighbours: NeighbourIndex) -> int:
    """Replace the model's training states in PostgreSQL with `neighbours`.

    COPY into the HNSW-indexed table runs at 1,200-1,800 rows/s on 2 cores (every row joins the graph;
    benchmarks/neighbour_search.py): a 100k-state model registers in one to one and a half minutes."""
    with transaction.atomic():
        TrainingState.objects.filter(model=model).delete()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY scoring_trainingstate (model_id, bucket, turn_index, converted, conversation_key, "
                "vector) FROM STDIN"
            ) as copy,
        ):
            for vector, label, bucket, index, key in zip(
                neighbours.vectors,
                neighbours.labels,
                neighbours.buckets,
                neighbours.turn_index,
                neighbours.keys,
                strict=True,
            ):
                literal = "[" + ",".join(f"{v:.5g}" for v in vector) + "]"
                copy.write_row((model.pk, int(bucket), int(index), bool(label), key[:200], literal))
    return len(neighbours.labels)
