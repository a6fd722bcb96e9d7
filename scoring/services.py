"""Scoring turns: the scorer interface, the baseline scorer, storing and pushing scores."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from conversations import realtime
from conversations.models import Conversation, ConversationStatus, Turn
from salesrl.db import save_or_get_raced, update_rows

from .ml.attribution import Moved, what_moved
from .ml.confidence import NEIGHBOURS, ConfidenceModel, NeighbourIndex, position_bucket, unseen_word_rates
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
from .signals import history_scored, scores_stored

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

    def score_many(self, turns: Sequence[Turn]) -> list[ScoreResult]:
        """One result per turn, in order. The turns may belong to several conversations; several of one
        conversation come in index order."""
        ...


class BaselineScorer:
    """No trained model yet: the team's historical conversion rate, with zero confidence.

    It says nothing about this conversation; it is the honest prior until a model is trained.
    Falls back to the whole organisation's rate, and to no number at all without any history.
    """

    version = "baseline:team-rate"

    def __init__(self, problem: str = "") -> None:
        self.problem = problem

    def score_many(self, turns: Sequence[Turn]) -> list[ScoreResult]:
        return [self.score(turn) for turn in turns]

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
        return self.score_many([turn])[0]

    def score_many(self, turns: Sequence[Turn]) -> list[ScoreResult]:
        """Fold each conversation's new turns into its stored encoder and predict after each.

        One transaction for the batch: one locking read of the conversations' encoder rows, one
        embedding lookup (and one batch of new embeddings) for every text, one write of the rows.
        A turn already folded in (a redelivered task, or a later turn that caught up first) replays its
        prefix from scratch without touching the stored state; a turn whose predecessors are not folded
        in yet folds them in first.
        """
        by_conversation: dict[int, list[Turn]] = {}
        for turn in sorted(turns, key=lambda t: (t.conversation_id, t.index)):
            by_conversation.setdefault(turn.conversation_id, []).append(turn)
        folded: dict[int, _Folded] = {}  # turn pk -> what its prediction saw
        with transaction.atomic():
            rows = self._locked_states(list(by_conversation))
            plans = [
                _FoldPlan.of(rows[conversation_id], conversation_turns)
                for conversation_id, conversation_turns in by_conversation.items()
            ]
            _read_missing_turns(plans)
            vectors = iter(embed_texts([t.text for plan in plans for t in plan.texts()], self.embedder))
            changed = []
            for plan in plans:
                row = plan.row
                if plan.forward:
                    encoder = (
                        StateEncoder.from_dict(self.model.spec, row.encoder)
                        if row.turns_seen
                        else StateEncoder(self.model.spec)
                    )
                    steps = self._fold(encoder, plan.forward, vectors)
                    if steps[0].before is None and row.turns_seen:
                        steps[0].before = decode_static(row.encoder.get("last_static"))
                    folded.update(
                        {t.pk: f for t, f in zip(plan.forward, steps, strict=True) if t.pk in plan.wanted}
                    )
                    # The last static state rides along so the next turn can say what moved its probability.
                    row.encoder = {**encoder.to_dict(), "last_static": encode_static(steps[-1].static)}
                    row.turns_seen = encoder.turns_seen
                    row.updated_at = timezone.now()
                    changed.append(row)
                for replayed, prefix in plan.replays:
                    steps = self._fold(StateEncoder(self.model.spec), prefix, vectors)
                    folded[replayed.pk] = steps[-1]
            update_rows(changed, ["encoder", "turns_seen", "updated_at"])
        return [self._result(folded[turn.pk], turn) for turn in turns]

    def _locked_states(self, conversation_ids: list[int]) -> dict[int, ConversationState]:
        """The encoder rows of these conversations for this model, locked (created when missing)."""
        rows = (
            ConversationState.objects.select_for_update()
            .filter(model_version=self.version)
            .order_by("conversation_id")
        )
        found = {row.conversation_id: row for row in rows.filter(conversation_id__in=conversation_ids)}
        missing = [c for c in conversation_ids if c not in found]
        if missing:
            ConversationState.objects.bulk_create(
                [ConversationState(conversation_id=c, model_version=self.version) for c in missing],
                ignore_conflicts=True,
            )
            found.update({row.conversation_id: row for row in rows.filter(conversation_id__in=missing)})
        return found

    def _result(self, folded: _Folded, turn: Turn) -> ScoreResult:
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

    def _fold(
        self, encoder: StateEncoder, turns: Sequence[Turn], vectors: Iterator[np.ndarray]
    ) -> list[_Folded]:
        """Fold `turns` (consecutive, in order) into `encoder`, predicting after each; their embeddings
        are the next items of `vectors`."""
        reader = self.model.context.encode_one if self.model.context is not None else None
        steps: list[_Folded] = []
        for item in turns:
            static = encoder.update(
                speaker=item.speaker,
                text=item.text,
                embedding=next(vectors),
                ts=item.ts.timestamp() if item.ts else None,
                context=reader,
            )
            full_state = encoder.full_state(static)
            prediction = self.model.predict(full_state[None, :])
            steps.append(
                _Folded(
                    prediction=prediction,
                    static=static,
                    full_state=full_state,
                    before=steps[-1].static if steps else None,
                    raw_before=encoder.probabilities[-1] if encoder.probabilities else None,
                )
            )
            # The raw estimate: the networks were trained reading their own uncalibrated outputs.
            encoder.record_probability(float(prediction.probability[0]))
        return steps


@dataclass
class _FoldPlan:
    """What one conversation's encoder row needs for a batch of its turns."""

    row: ConversationState
    wanted: set[int]  # pks of the turns asked for
    # Turns turns_seen..the last one asked for, in order: folded into the stored encoder.
    forward: list[Turn]
    # (turns_seen, last index asked for) when the batch lacks turns in between: _read_missing_turns
    # fills `forward` from the database.
    forward_gaps: tuple[int, int] | None
    # (turn, its whole prefix) for turns already folded in: replayed from scratch. The prefix is read
    # from the database.
    replays: list[tuple[Turn, list[Turn]]]

    @classmethod
    def of(cls, row: ConversationState, turns: list[Turn]) -> _FoldPlan:
        ahead = [t for t in turns if t.index >= row.turns_seen]
        behind = [t for t in turns if t.index < row.turns_seen]
        gaps = None
        forward: list[Turn] = []
        if ahead:
            indexes = {t.index for t in ahead}
            last = ahead[-1].index
            if len(indexes) != last - row.turns_seen + 1:
                gaps = (row.turns_seen, last)  # some turns in between are not in the batch: read them all
            else:
                forward = ahead
        return cls(
            row=row,
            wanted={t.pk for t in turns},
            forward=forward,
            forward_gaps=gaps,
            replays=[(t, []) for t in behind],
        )

    def texts(self) -> list[Turn]:
        """The turns whose embeddings the folds consume, in the order they consume them."""
        return [*self.forward, *(t for _, prefix in self.replays for t in prefix)]


def _read_missing_turns(plans: list[_FoldPlan]) -> None:
    """Fill in the turns the batch did not carry (gaps before a turn, prefixes to replay): one query."""
    wanted = Q()
    any_missing = False
    for plan in plans:
        conversation_id = plan.row.conversation_id
        if plan.forward_gaps is not None:
            low, high = plan.forward_gaps
            wanted |= Q(conversation_id=conversation_id, index__gte=low, index__lte=high)
            any_missing = True
        if plan.replays:
            high = max(t.index for t, _ in plan.replays)
            wanted |= Q(conversation_id=conversation_id, index__lte=high)
            any_missing = True
    if not any_missing:
        return
    stored: dict[int, list[Turn]] = {}
    for turn in (
        Turn.objects.filter(wanted)
        .order_by("conversation_id", "index")
        .only("conversation_id", "index", "speaker", "text", "ts")
    ):
        stored.setdefault(turn.conversation_id, []).append(turn)
    for plan in plans:
        turns = stored.get(plan.row.conversation_id, [])
        by_index = {t.index: t for t in turns}
        if plan.forward_gaps is not None:
            low, high = plan.forward_gaps
            # The batch's own objects where it has them, so their pks match the results asked for.
            batch = {t.index: t for t in plan.forward}
            plan.forward = [batch.get(i) or by_index[i] for i in range(low, high + 1)]
            plan.forward_gaps = None
        plan.replays = [(t, [by_index[i] for i in range(t.index)] + [t]) for t, _ in plan.replays]


@dataclass
class _Folded:
    """What the prediction after a turn saw."""

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


def _score_or_stand_in(scorer: TurnScorer, turns: Sequence[Turn]) -> tuple[TurnScorer, list[ScoreResult]]:
    """`scorer`'s results for `turns`, or, when its embedding backend fails after the client's retries (or
    failed within the cool-down), a stand-in's, with details["fallback"] saying why and instead of what."""
    backend = getattr(scorer, "embedder", None)
    name = backend.name if backend is not None else ""
    until, reason = _backend_down.get(name, (0.0, ""))
    if time.monotonic() < until:
        reason = f"{reason} (not asked again for {settings.SALESRL_EMBEDDING_COOLDOWN_S}s after failing)"
    else:
        try:
            return scorer, scorer.score_many(turns)
        except EmbeddingUnavailable as exc:
            reason = str(exc)
            if exc.transient:
                _backend_down[name] = (time.monotonic() + settings.SALESRL_EMBEDDING_COOLDOWN_S, reason)
            logger.warning("turn(s) %s: %s; scoring with a stand-in", [t.pk for t in turns], reason)
    stand_in = stand_in_scorer(reason=reason)
    stand_in_embedder = getattr(stand_in, "embedder", None)
    fallback = {
        "reason": reason,
        "embedder": stand_in_embedder.name if stand_in_embedder is not None else None,
        "from": name,
        "instead_of": scorer.version,
    }
    results = stand_in.score_many(turns)
    return stand_in, [replace(r, details={**r.details, "fallback": fallback}) for r in results]


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
    """score_turns for one turn."""
    return score_turns(turns=[turn], scorer=scorer)[0]


def score_turns(*, turns: Sequence[Turn], scorer: TurnScorer | None = None) -> list[Score]:
    """Score turns with the active scorer, store the scores and push them to the turns' watchers.

    The turns (loaded with their conversation) may belong to several conversations. Idempotent per
    (turn, scorer version): a turn scored before gets its stored score, pushed again, so a redelivered
    task still reaches a page that missed the first push. A model score is stored with its confidence
    pending: estimate_confidences is the second step (score_live_turns). When the scorer's remote
    embedding backend is down the turns are scored by a stand-in (stand_in_scorer), which then answers
    for the scorer's version on them: they are not scored again when the backend is back.

    scores_stored carries the last of each conversation's turns only: the others have been overtaken by a
    later turn already, and what follows a score (guidance) is about the conversation's latest turn.
    """
    scorer = scorer or active_scorer()
    stored: dict[int, Score] = {}
    for score in Score.objects.filter(
        _answers_for(scorer.version), turn_id__in=[t.pk for t in turns]
    ).order_by("pk"):
        stored.setdefault(score.turn_id, score)
    todo = [turn for turn in turns if turn.pk not in stored]
    if todo:
        used, results = _score_or_stand_in(scorer, todo)
        now = timezone.now()
        stored.update(
            _store_scores(
                [
                    _new_score(
                        turn,
                        used.version,
                        result,
                        scored_at=now,
                        latency_ms=(now - turn.created_at).total_seconds() * 1000,
                    )
                    for turn, result in zip(todo, results, strict=True)
                ]
            )
        )
    scores = []
    for turn in turns:
        score = stored[turn.pk]
        # Related rows the pushes and the confidence step read: already loaded with the turn.
        score.turn, score.conversation = turn, turn.conversation
        scores.append(score)
    push_scores(scores, kind="score")
    latest: dict[int, Score] = {}  # each conversation's newest turn, conversations in the order given
    for score in scores:
        newest = latest.get(score.conversation_id)
        if newest is None or score.turn.index > newest.turn.index:
            latest[score.conversation_id] = score
    scores_stored.send(sender=Score, scores=list(latest.values()))
    return scores


def _new_score(turn: Turn, version: str, result: ScoreResult, **fields: Any) -> Score:
    """An unsaved Score of `turn` by scorer `version` holding `result` (`fields` add or override)."""
    values: dict[str, Any] = {
        "probability": result.probability,
        "confidence": result.confidence,
        "details": result.details,
        "state_vector": result.state_vector,
        **fields,
    }
    return Score(turn=turn, model_version=version, conversation_id=turn.conversation_id, **values)


def _store_scores(scores: list[Score]) -> dict[int, Score]:
    """{turn id: stored score}: one INSERT; when another task stored some of them meanwhile (the unique
    turn + version), theirs are kept and returned instead."""
    try:
        with transaction.atomic():
            Score.objects.bulk_create(scores)
    except IntegrityError:
        return {
            score.turn_id: save_or_get_raced(
                score, unique={"turn_id": score.turn_id, "model_version": score.model_version}
            )
            for score in scores
        }
    return {score.turn_id: score for score in scores}


def score_live_turn(*, turn: Turn) -> Score:
    """score_live_turns for one turn."""
    return score_live_turns(turns=[turn])[0]


def score_live_turns(*, turns: Sequence[Turn]) -> list[Score]:
    """What the worker does for new turns: score them and push the probabilities, then estimate and push
    their confidence (estimate_confidences), in that order and in the same task.

    The probabilities are out before the neighbour search starts, so they never wait for the
    confidence. One task rather than two spares a broker round trip and reloading the scores, their
    turns and model. A confidence step that fails is left to the sweep (requeue_unscored), which finds
    the scores still pending one.
    """
    scores = score_turns(turns=turns)
    pending = [s for s in scores if s.confidence is None and s.state_vector is not None]
    if pending:
        estimate_confidences(pending)
    return scores


def estimate_confidence(score: Score) -> Score:
    """estimate_confidences for one score."""
    return estimate_confidences([score])[0]


def estimate_confidences(scores: Sequence[Score]) -> list[Score]:
    """Add the confidence to model scores (neighbour search in pgvector, novelty, the combiner), store it
    and push it as a "confidence" update. Idempotent: a score that has one is pushed again as is.

    The scores (loaded with their turn and conversation) are estimated together: one neighbour query,
    one read of their conversations' texts, one combiner call and one UPDATE per model version.
    """
    todo: dict[str, list[Score]] = {}
    for score in scores:
        if score.confidence is None and score.state_vector is not None:
            todo.setdefault(score.model_version, []).append(score)
    for version, group in todo.items():
        model_row = ScoringModel.objects.filter(version=version).first()
        if model_row is None:
            continue
        # A stand-in's score is the local model's: load it with the embedder it was trained on.
        confidence = load_policy(model_row, embedder_for_model(model_row)).confidence
        if confidence is not None:
            _estimate_group(group, model_row, confidence)
    push_scores(scores, kind="confidence")
    return list(scores)


def _estimate_group(scores: list[Score], model_row: ScoringModel, confidence: ConfidenceModel) -> None:
    neighbours = TrainingState.objects.nearest_many(
        model_id=model_row.pk,
        queries=[
            (int(position_bucket(score.turn.index)), vector_list(score.state_vector)) for score in scores
        ],
        k=NEIGHBOURS,
    )
    distances = np.full((len(scores), NEIGHBOURS), np.nan)
    labels = np.full((len(scores), NEIGHBOURS), np.nan)
    for i, found in enumerate(neighbours):
        for j, (distance, converted) in enumerate(found):
            distances[i, j], labels[i, j] = distance, float(converted)
    # The share of unseen words after each turn, from one read of the conversations' texts so far.
    last_index: dict[int, int] = {}
    for score in scores:
        last_index[score.conversation_id] = max(last_index.get(score.conversation_id, 0), score.turn.index)
    texts: dict[int, list[str]] = {}
    rows = (
        Turn.objects.filter(conversation_id__in=last_index, index__lte=max(last_index.values()))
        .order_by("conversation_id", "index")
        .values_list("conversation_id", "index", "text")
    )
    for conversation_id, index, text in rows:
        if index <= last_index[conversation_id]:
            texts.setdefault(conversation_id, []).append(text)
    rates = {c: unseen_word_rates(t, confidence.vocabulary) for c, t in texts.items()}
    unknown = [confidence.unknown_industry(score.conversation.industry) for score in scores]
    details = [score.details for score in scores]
    estimates = confidence.estimate(
        p_raw=[d["raw_probability"] for d in details],
        head_probs=np.asarray([d["head_probabilities"] for d in details]),
        turn_index=[score.turn.index for score in scores],
        subspace_distance=[d["subspace_distance"] for d in details],
        neighbour_distances=distances,
        neighbour_labels=labels,
        unseen_words=[rates[score.conversation_id][score.turn.index] for score in scores],
        unknown_industry=[bool(u) for u in unknown],
    )
    for i, score in enumerate(scores):
        row = estimates.row(i, reasons=confidence.reasons(estimates, i, unknown_industry=unknown[i]))
        row["neighbours_found"] = len(neighbours[i])
        score.confidence = row["confidence"]
        score.details = {
            **{k: v for k, v in score.details.items() if k != "confidence_pending"},
            "confidence": row,
        }
    # Only this step changes a score after it is stored, so their details are as read; the condition
    # keeps the first of two concurrent runs (a redelivery racing the sweep), whose values are then read
    # back so that both push the same.
    stored = update_rows(scores, ["confidence", "details"], where_null="confidence")
    if stored < len(scores):
        current = Score.objects.in_bulk([score.pk for score in scores])
        for score in scores:
            score.confidence, score.details = current[score.pk].confidence, current[score.pk].details


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
        todo = [
            t for t in Turn.objects.filter(conversation=conversation).order_by("index") if t.pk not in done
        ]
        for turn in todo:
            turn.conversation = conversation
        # The whole conversation in one call: one encoder row, one embedding lookup.
        built = [
            # History is not live: no confidence step follows, so none is pending.
            _new_score(
                turn,
                scorer.version,
                result,
                details={k: v for k, v in result.details.items() if k != "confidence_pending"},
            )
            for turn, result in zip(todo, scorer.score_many(todo) if todo else [], strict=True)
        ]
        kept = _store_scores(built) if built else {}
        new = sum(kept[score.turn_id] is score for score in built)  # not another task's meanwhile
        if new:
            stored += new
            touched.append(conversation.pk)
        if progress is not None:
            progress(conversation)
    if touched:
        history_scored.send(sender=Score, conversation_ids=touched)
    return stored


def push_scores(scores: Sequence[Score], *, kind: str) -> None:
    """Push stored scores (loaded with their turn and conversation) to their turns' watchers, as "score"
    (step one) or "confidence" (step two) updates, in one hop."""
    realtime.broadcast_many(
        [
            realtime.Event(
                conversation_id=score.conversation.pk,
                team_id=score.conversation.team_id,
                rep_id=score.conversation.rep_id,
                payload={
                    "type": kind,
                    "conversation_id": score.conversation.pk,
                    "turn_index": score.turn.index,
                    "score": score_payload(score),
                },
            )
            for score in scores
        ]
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
