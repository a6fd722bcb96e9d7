"""Scores: the conversion probability estimated after a turn, by one scorer version."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgvector.django import HalfVectorField, HnswIndex

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from .ml.confidence import SIMILARITY_DIM


class ScoringModelQuerySet(models.QuerySet["ScoringModel"]):
    def active(self) -> ScoringModel | None:
        return self.filter(is_active=True).first()


class ScoringModel(models.Model):
    """A trained policy network: where its files are, what it scored in evaluation, if it is live."""

    version = models.CharField(max_length=100, unique=True)
    # The version folder (policy.onnx, policy.int8.onnx, model.json), relative to SALESRL_MODELS_DIR
    # when inside it, so a moved state folder keeps working.
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, help_text="of the served ONNX file")
    sidecar = models.JSONField(default=dict)
    # Evaluation reports by name ("validation", "crossval:<file>", …): AUC, Brier, ECE, by position.
    metrics = models.JSONField(default=dict, blank=True)
    training_source = models.CharField(max_length=300, blank=True, default="")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = ScoringModelQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_scoring_model"
            )
        ]

    def __str__(self) -> str:
        return self.version + (" (active)" if self.is_active else "")

    @property
    def folder(self) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else Path(settings.SALESRL_MODELS_DIR) / path

    @transaction.atomic
    def activate(self) -> None:
        """Make this the model that scores live turns (the previous one stops at once)."""
        ScoringModel.objects.filter(is_active=True).exclude(pk=self.pk).update(is_active=False)
        self.is_active = True
        self.activated_at = timezone.now()
        self.save(update_fields=["is_active", "activated_at"])


class EmbeddingCache(models.Model):
    """Embeddings by (embedder, sha256 of the exact text): no text is embedded twice.

    halfvec holds any width up to 16,000 (OpenAI's 3,072 included) at half the storage of vector.
    """

    embedder = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64)
    vector = HalfVectorField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["embedder", "content_hash"], name="embedding_cache_unique_text")
        ]

    def __str__(self) -> str:
        return f"{self.embedder} {self.content_hash[:12]}"


class ConversationState(models.Model):
    """The incremental state encoder of one conversation for one model version (see scoring.ml.state).

    Kept between turns so scoring turn t folds in one turn instead of re-encoding turns 0..t-1.
    """

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    model_version = models.CharField(max_length=100)
    turns_seen = models.PositiveIntegerField(default=0)
    encoder = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "model_version"], name="conversation_state_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.model_version} @{self.turns_seen}"


class Score(models.Model):
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    turn = models.ForeignKey("conversations.Turn", on_delete=models.CASCADE, related_name="+")
    # Which scorer produced it, e.g. "baseline:team-rate" or a trained model's version.
    model_version = models.CharField(max_length=100)
    # None when the scorer has nothing honest to say (no model and no closed history yet).
    probability = models.FloatField(null=True, blank=True)
    # None until a confidence is estimated for this kind of score; 0 for the baseline.
    confidence = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(default=timezone.now)
    # Time from the turn being stored to the score being stored, in milliseconds.
    latency_ms = models.FloatField(null=True, blank=True)
    # The state in the model's similarity space (scoring.ml.confidence), for the neighbour search that
    # follows the score; None for scorers without one.
    state_vector = HalfVectorField(dimensions=SIMILARITY_DIM, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn", "model_version"], name="score_unique_turn_version"),
            models.CheckConstraint(
                condition=models.Q(probability__isnull=True)
                | models.Q(probability__gte=0, probability__lte=1),
                name="score_probability_in_unit_interval",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1),
                name="score_confidence_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["conversation", "-scored_at"], name="score_conv_scored")]

    def __str__(self) -> str:
        return f"{self.turn_id} {self.model_version}: {self.probability}"


class TrainingStateQuerySet(models.QuerySet["TrainingState"]):
    def nearest(self, *, model_id: int, bucket: int, vector: list[float], k: int) -> list[tuple[float, bool]]:
        """(distance, converted) of the k training states of `model_id` in `bucket` nearest to `vector`."""
        return self.nearest_many(model_id=model_id, queries=[(bucket, vector)], k=k)[0]

    def nearest_many(
        self, *, model_id: int, queries: Sequence[tuple[int, list[float]]], k: int
    ) -> list[list[tuple[float, bool]]]:
        """For each (bucket, vector): (distance, converted) of the k training states of `model_id` in that
        bucket nearest to the vector, nearest first. One statement per search method: a LATERAL join
        runs one scan per query vector.

        The method depends on how many states the bucket holds. Up to SALESRL_NEIGHBOUR_EXACT_MAX the
        search is exact (the (model, bucket) index, then a sort): a few ms, and HNSW would be slower
        there, not faster. A bucket is a small share of the indexed rows, so a filtered HNSW scan
        discards most of what it walks: measured on the demo model (35k states), live states of the first
        turns took 12 ms at the median and 39 ms at worst with recall@10 0.85, the exact scan 1.5 ms and
        12 ms. Above, HNSW with an iterative scan (pgvector >= 0.8: without it a filtered scan returns
        fewer than k rows; see shared/STACK.md). SET LOCAL needs a transaction, so the statements run in
        their own savepoint.
        """
        if not queries:
            return []
        sizes = self.bucket_sizes(model_id)
        exact = [
            i
            for i, (bucket, _) in enumerate(queries)
            if sizes.get(int(bucket), 0) <= settings.SALESRL_NEIGHBOUR_EXACT_MAX
        ]
        indexed = sorted(set(range(len(queries))) - set(exact))
        found: list[list[tuple[float, bool]]] = [[] for _ in queries]
        with transaction.atomic(), connection.cursor() as cursor:
            if indexed:
                # One round trip for both (no parameters: an int from the settings, checked there).
                cursor.execute(
                    "SET LOCAL hnsw.iterative_scan = strict_order; "
                    f"SET LOCAL hnsw.ef_search = {int(settings.SALESRL_HNSW_EF_SEARCH)}"
                )
                self._lateral_search(cursor, model_id, [queries[i] for i in indexed], k, indexed, found)
            if exact:
                # Index scans off: the HNSW index cannot be used, the (model, bucket) bitmap scan still is.
                cursor.execute("SET LOCAL enable_indexscan = off")
                self._lateral_search(cursor, model_id, [queries[i] for i in exact], k, exact, found)
                cursor.execute("SET LOCAL enable_indexscan = on")
        return found

    def _lateral_search(
        self,
        cursor: Any,
        model_id: int,
        queries: list[tuple[int, list[float]]],
        k: int,
        positions: list[int],
        found: list[list[tuple[float, bool]]],
    ) -> None:
        table = self.model._meta.db_table
        literals = ["[" + ",".join(repr(float(v)) for v in vector) + "]" for _, vector in queries]
        cursor.execute(
            f"""
            SELECT q.ord, n.distance, n.converted
            FROM unnest(%s::int[], %s::halfvec({SIMILARITY_DIM})[])
                WITH ORDINALITY AS q (bucket, vec, ord)
            CROSS JOIN LATERAL (
                SELECT s.vector <-> q.vec AS distance, s.converted
                FROM {table} s
                WHERE s.model_id = %s AND s.bucket = q.bucket
                ORDER BY s.vector <-> q.vec
                LIMIT %s
            ) n
            ORDER BY q.ord, n.distance
            """,
            [[int(bucket) for bucket, _ in queries], literals, model_id, k],
        )
        for ordinal, distance, converted in cursor.fetchall():
            found[positions[ordinal - 1]].append((float(distance), bool(converted)))

    def bucket_sizes(self, model_id: int) -> dict[int, int]:
        """{bucket: states} of a model, counted once per process: a model's states are written when it
        is registered and not changed after."""
        if model_id not in _bucket_sizes:
            counts = self.filter(model_id=model_id).values_list("bucket").annotate(n=models.Count("id"))
            _bucket_sizes[model_id] = {int(bucket): int(n) for bucket, n in counts}
        return _bucket_sizes[model_id]


_bucket_sizes: dict[int, dict[int, int]] = {}


class TrainingState(models.Model):
    """One prefix of a training conversation of a model version, in its similarity space.

    The live path's neighbour search (confidence) asks pgvector for the nearest ones at a similar turn
    position; the vectors come from the model folder's similarity.npz, loaded when it is registered.
    """

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="training_states")
    bucket = models.PositiveSmallIntegerField(help_text="turn-index bucket (scoring.ml.confidence)")
    turn_index = models.PositiveIntegerField()
    converted = models.BooleanField()
    conversation_key = models.CharField(max_length=200, help_text="the training record's id")
    vector = HalfVectorField(dimensions=SIMILARITY_DIM)

    objects = TrainingStateQuerySet.as_manager()

    class Meta:
        indexes = [
            HnswIndex(
                name="training_state_vector_hnsw",
                fields=["vector"],
                m=16,
                ef_construction=128,
                opclasses=["halfvec_l2_ops"],
            ),
            models.Index(fields=["model", "bucket"], name="training_state_model_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.conversation_key}@{self.turn_index}"
