"""Neighbour search behind each live confidence: pgvector HNSW latency and recall at 100k and 1M states.

    .state/venv/bin/python -m salesrl.stack services      # the embedded PostgreSQL (or set DATABASE_URL)
    .state/venv/bin/python benchmarks/neighbour_search.py [--sizes 100000,1000000] [--queries 500]
        [--ef 40,100,200] [--source simulated|synthetic] [--variants auto|product|all|NAME,...] [--keep]

What it measures is the live query of scoring.models.TrainingStateQuerySet.nearest, as Django sends it
(client-side binding: the vector is an inlined '[...]' literal), inside its own transaction:

    BEGIN; SET LOCAL hnsw.iterative_scan = strict_order; SET LOCAL hnsw.ef_search = <ef>;
    SELECT vector <-> '[...]' AS distance, converted FROM <table>
     WHERE model_id = <m> AND bucket = <b> ORDER BY distance LIMIT 10; COMMIT;

in a scratch database (salesrl_bench_knn on the embedded server, or on the server of DATABASE_URL) and a
table of its own with the columns and indexes of migration scoring/0003 (without the foreign key to
scoring_scoringmodel): HNSW (m=16, ef_construction=128, halfvec_l2_ops) on the halfvec(64) vector, btree
(model_id) and (model_id, bucket). The product's tables are never touched.

Data. Size N means N states of the queried model (model_id 1); model_id 2 holds another 10 % (rows the
model filter has to skip). --source simulated (default): conversations from scoring.ml.simulator, honest
turns encoded like scoring.ml.dataset.encode_conversations (local int8 MiniLM + StateEncoder), projected to
64 dimensions with scoring.ml.confidence.Projection fitted on model 1's states; buckets are
position_bucket(turn index). Encoding is time-boxed (--encode-budget-s): if it runs out, the real states
are grown to size with rows drawn around real ones (a real vector plus Gaussian noise scaled to its
nearest-neighbour distance), and the output says so. Sizes above --simulate-up-to use the synthetic
source. --source synthetic: a Gaussian mixture in 64-d (2000 clusters of uneven size, anisotropic low-rank
spread, variance decaying over dimensions like PCA coordinates), each "conversation" an AR(1) walk inside
its cluster drifting with the turn index, conversation lengths 3-30 (so early turns are more common).
Query vectors are held out: states of simulated conversations that were not inserted, or fresh draws.

Steps per size: binary COPY, HNSW build after loading (maintenance_work_mem from free memory, at most 2GB;
--build-workers parallel workers), ANALYZE, EXPLAIN per bucket (is the HNSW index used with the filter?),
exact ground truth in numpy over the float16 vectors, then per ef_search the p50/p95/p99 of the whole
transaction (and of the SELECT alone) over --queries warm queries, recall@10 against the exact answer
(by distance, so exact ties count), and how many answers had fewer than 10 rows. The exact query (index
scans off) is timed on --exact-queries queries for reference and checked against numpy. After that, COPY
into the indexed table (what store_training_states does when a model is registered) is timed.

Target (the issue): p99 <= 10 ms at recall@10 >= 0.95, at 100k and 1M states. With --variants auto, if
the product's index settings miss it at a size, other settings are tried in order (m=24/ef_construction
=128, m=16/ef_construction=200, partial HNSW indexes per bucket) until one meets it.

Prints progress on stderr and a readable table on stdout; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import psycopg  # noqa: E402
from pgvector import HalfVector  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402
from psycopg import sql  # noqa: E402

from salesrl.stack import Config, ensure_database  # noqa: E402
from scoring.ml.confidence import (  # noqa: E402
    NEIGHBOURS,
    POSITION_BUCKET_EDGES,
    SIMILARITY_DIM,
    Projection,
    position_bucket,
)

DATABASE = "salesrl_bench_knn"
TARGET_P99_MS = 10.0
TARGET_RECALL = 0.95
PRODUCT_EF_SEARCH = 100  # settings.SALESRL_HNSW_EF_SEARCH's default
QUERIED_MODEL, OTHER_MODEL, INSERTED_MODEL = 1, 2, 3
OTHER_SHARE = 0.10
N_BUCKETS = len(POSITION_BUCKET_EDGES)
RECALL_RTOL = 1e-4  # pgvector sums halfvec differences in float32; numpy here in float64

KNN_SQL = (
    "SELECT vector <-> %s AS distance, converted FROM {table} "
    "WHERE model_id = %s AND bucket = %s ORDER BY distance LIMIT 10"
)


def log(message: str) -> None:
    print(f"[knn {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ data


@dataclass
class States:
    """Rows of the training-state table (conversation-major), vectors already rounded to float16."""

    vectors: np.ndarray  # (n, 64) float16
    turn_index: np.ndarray  # (n,) int
    converted: np.ndarray  # (n,) bool
    keys: np.ndarray  # (n,) str

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def buckets(self) -> np.ndarray:
        return position_bucket(self.turn_index).astype(np.int16)

    def take(self, index: np.ndarray) -> States:
        return States(self.vectors[index], self.turn_index[index], self.converted[index], self.keys[index])

    @staticmethod
    def concat(parts: Sequence[States]) -> States:
        return States(
            np.concatenate([p.vectors for p in parts]),
            np.concatenate([p.turn_index for p in parts]),
            np.concatenate([p.converted for p in parts]),
            np.concatenate([p.keys for p in parts]),
        )


@dataclass
class Workload:
    """What one size loads and asks: model 1's states, model 2's, the held-out queries, and provenance."""

    queried: States
    other: States
    queries: States
    source: str
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimulatedPool:
    """Encoded, projected simulated states with the conversation each row belongs to."""

    static: np.ndarray  # (n, static_dim) float32, kept until the projection is fitted
    turn_index: np.ndarray
    converted: np.ndarray
    keys: np.ndarray
    conversation: np.ndarray  # (n,) conversation number
    conversations: int
    encode_s: float
    budget_hit: bool


def encode_simulated(needed: int, *, budget_s: float, seed: int, state_dir: Path) -> SimulatedPool:
    """Simulate conversations and encode their honest turns until `needed` states or the time budget."""
    from scoring.ml.dataset import encode_conversations
    from scoring.ml.embeddings import (
        CachedEmbedder,
        EmbedderError,
        default_local_model_dir,
        load_embedder,
        read_local_sidecar,
    )
    from scoring.ml.protocol import honest_turns
    from scoring.ml.simulator import make_policy, simulate_conversation
    from scoring.ml.state import StateSpec

    try:
        read_local_sidecar(default_local_model_dir(state_dir))
    except EmbedderError:
        log(f"no local embedding model in {default_local_model_dir(state_dir)}: exporting it first")
        from scoring.ml.export_embedder import ensure_local_model

        ensure_local_model(state_dir)
    embedder = CachedEmbedder(load_embedder("local", state_dir=state_dir), max_items=1_000_000)
    spec = StateSpec(embedding_name=embedder.name, embedding_dim=embedder.dim)
    policy = make_policy("mixed")  # what simulate() uses by default
    started = time.perf_counter()
    statics: list[np.ndarray] = []
    turn_index: list[np.ndarray] = []
    converted: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    conversation: list[np.ndarray] = []
    total = n_conversations = 0
    budget_hit = False
    chunk = 500
    last_log = started
    while total < needed:
        records = [
            simulate_conversation(
                np.random.default_rng([seed, i]), conversation_id=f"sim-{seed}-{i}", policy=policy
            )
            for i in range(n_conversations, n_conversations + chunk)
        ]
        encoded = encode_conversations(
            records, turns_of=honest_turns, embedder=embedder, spec=spec, progress=False
        )
        statics.append(encoded.static)
        turn_index.append(encoded.row_position())
        converted.append(np.repeat(encoded.labels > 0.5, encoded.lengths))
        keys.append(np.repeat(np.asarray(encoded.ids, dtype=object), encoded.lengths))
        conversation.append(n_conversations + encoded.row_conversation())
        n_conversations += chunk
        total += len(encoded.static)
        elapsed = time.perf_counter() - started
        if time.perf_counter() - last_log > 15 or total >= needed:
            last_log = time.perf_counter()
            log(
                f"simulated + encoded {n_conversations:,} conversations, {total:,}/{needed:,} states "
                f"in {elapsed:.0f} s ({total / elapsed:,.0f} states/s, {len(embedder):,} distinct turns)"
            )
        if elapsed > budget_s and total < needed:
            budget_hit = True
            log(f"encoding budget of {budget_s:.0f} s used up at {total:,} states: growing the rest")
            break
    return SimulatedPool(
        static=np.concatenate(statics),
        turn_index=np.concatenate(turn_index).astype(np.int64),
        converted=np.concatenate(converted).astype(bool),
        keys=np.concatenate(keys).astype(str),
        conversation=np.concatenate(conversation),
        conversations=n_conversations,
        encode_s=time.perf_counter() - started,
        budget_hit=budget_hit,
    )


def nearest_distance(vectors: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Each row's distance to its nearest other row of the same bucket (exact; 0 for duplicates)."""
    out = np.zeros(len(vectors))
    for bucket in np.unique(buckets):
        rows = np.flatnonzero(buckets == bucket)
        x = vectors[rows].astype(np.float64)
        norms = np.einsum("ij,ij->i", x, x)
        for start in range(0, len(rows), 256):
            q = x[start : start + 256]
            d2 = norms[start : start + 256, None] + norms[None, :] - 2.0 * q @ x.T
            d2[np.arange(len(q)), np.arange(start, start + len(q))] = np.inf
            out[rows[start : start + 256]] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def grow_by_jitter(real: States, size: int, rng: np.random.Generator, label: str) -> States:
    """`real` plus rows drawn around random real rows, to `size` rows (noise ~ half the local NN distance)."""
    if len(real) >= size:
        return real.take(np.arange(size))
    nn = nearest_distance(real.vectors, real.buckets)
    floor = float(np.median(nn[nn > 0])) * 0.1 if np.any(nn > 0) else 0.01
    parents = rng.integers(0, len(real), size - len(real))
    scale = 0.5 * np.maximum(nn[parents], floor) / math.sqrt(SIMILARITY_DIM)
    noise = rng.standard_normal((len(parents), SIMILARITY_DIM)) * scale[:, None]
    vectors = (real.vectors[parents].astype(np.float32) + noise).astype(np.float16)
    grown = States(
        vectors,
        real.turn_index[parents],
        real.converted[parents],
        np.char.add(real.keys[parents], f"~{label}"),
    )
    log(f"{label}: {len(real):,} real states grown to {size:,} by jitter around real rows")
    return States.concat([real, grown])


def simulated_workload(size: int, pool: SimulatedPool, *, queries: int, rng: np.random.Generator) -> Workload:
    """Split the pool (conversation-major): model 1's states, model 2's, then held-out conversations for
    the queries; grow model 1 and model 2 by jitter when the pool is short."""
    other_size = round(size * OTHER_SHARE)
    n = len(pool.conversation)
    starts = np.flatnonzero(np.concatenate([[True], pool.conversation[1:] != pool.conversation[:-1]]))
    # The held-out part starts at a conversation boundary and holds at least 4 x the queries.
    held_from = int(starts[np.searchsorted(starts, max(0, n - 4 * queries), side="right") - 1])
    model1_end = min(size, int(held_from * size / (size + other_size)))
    model2_end = min(held_from, model1_end + other_size)
    projection = Projection.fit(pool.static[:model1_end], seed=0)

    def states(rows: slice) -> States:
        vectors, _ = projection.project(pool.static[rows])
        return States(
            vectors.astype(np.float16), pool.turn_index[rows], pool.converted[rows], pool.keys[rows]
        )

    queried_real = states(slice(0, model1_end))
    other_real = states(slice(model1_end, model2_end))
    held = states(slice(held_from, n))
    query_states = held.take(np.sort(rng.choice(len(held), size=min(queries, len(held)), replace=False)))
    grown = len(queried_real) < size or len(other_real) < other_size
    queried = grow_by_jitter(queried_real, size, rng, "model1")
    other = grow_by_jitter(other_real, other_size, rng, "model2")
    source = "simulated" if not grown else f"simulated+jitter ({len(queried_real):,} real model-1 states)"
    return Workload(
        queried,
        other,
        query_states,
        source,
        {
            "real_states": int(len(queried_real) + len(other_real)),
            "simulated_conversations": pool.conversations,
            "encode_s": round(pool.encode_s, 1),
            "encode_budget_hit": pool.budget_hit,
            "held_out_conversations": len(np.unique(pool.conversation[held_from:])),
            "jitter_rows": int(max(0, size - len(queried_real)) + max(0, other_size - len(other_real))),
        },
    )


class MixtureSource:
    """Embedding-like synthetic states: conversations walking inside clusters of a 64-d Gaussian mixture."""

    def __init__(self, rng: np.random.Generator, clusters: int = 2000, rank: int = 6) -> None:
        self.rng = rng
        self.rank = rank
        dim = SIMILARITY_DIM
        # Variance decays over coordinates like PCA components of real states.
        self.scales = (3.0 / np.sqrt(1.0 + np.arange(dim))).astype(np.float32)
        self.centres = (rng.standard_normal((clusters, dim)) * self.scales).astype(np.float32)
        weights = rng.lognormal(0.0, 1.2, clusters)  # uneven cluster sizes (max/median ~ 20x)
        self.weights = weights / weights.sum()
        spread = rng.lognormal(-1.2, 0.35, clusters)[:, None, None]
        self.factors = (
            rng.standard_normal((clusters, dim, rank)) * self.scales[None, :, None] * spread
        ).astype(np.float32)
        self.iso = (0.04 * self.scales).astype(np.float32)
        drift = rng.standard_normal(dim) * self.scales
        self.drift = (drift / np.linalg.norm(drift) * 2.0).astype(np.float32)  # moves with the turn index
        self.base_rate = rng.normal(-0.6, 1.0, clusters)
        self.conversations = 0

    def draw(self, rows: int, prefix: str) -> States:
        """At least `rows` states (whole conversations, conversation-major), trimmed to `rows`."""
        rng = self.rng
        parts: list[States] = []
        total = 0
        while total < rows:
            n_conv = max(1, min(20_000, (rows - total) // 8 + 1))
            lengths = np.clip(np.round(rng.lognormal(np.log(10.0), 0.55, n_conv)), 3, 30).astype(np.int64)
            cluster = rng.choice(len(self.weights), size=n_conv, p=self.weights)
            t_max = int(lengths.max())
            z = np.empty((n_conv, t_max, self.rank), dtype=np.float32)
            z[:, 0] = rng.standard_normal((n_conv, self.rank))
            for t in range(1, t_max):
                z[:, t] = 0.7 * z[:, t - 1] + 0.714 * rng.standard_normal((n_conv, self.rank))
            mask = np.arange(t_max)[None, :] < lengths[:, None]
            conv_of, turn = np.nonzero(mask)
            latent = z[conv_of, turn]
            c = cluster[conv_of]
            vectors = np.empty((len(conv_of), SIMILARITY_DIM), dtype=np.float32)
            for start in range(0, len(conv_of), 100_000):
                s = slice(start, start + 100_000)
                vectors[s] = (
                    self.centres[c[s]]
                    + np.einsum("ndr,nr->nd", self.factors[c[s]], latent[s])
                    + (np.log1p(turn[s]) / np.log1p(30.0))[:, None] * self.drift
                    + rng.standard_normal((len(conv_of[s]), SIMILARITY_DIM)).astype(np.float32) * self.iso
                )
            outcome = rng.random(n_conv) < 1.0 / (1.0 + np.exp(-(self.base_rate[cluster] + 0.5 * z[:, 0, 0])))
            ids = np.char.add(f"{prefix}-", (self.conversations + np.arange(n_conv)).astype(str))
            self.conversations += n_conv
            parts.append(States(vectors.astype(np.float16), turn, outcome[conv_of], ids[conv_of]))
            total += len(conv_of)
        out = States.concat(parts)
        return out.take(np.arange(rows))


def synthetic_workload(size: int, *, queries: int, rng: np.random.Generator, clusters: int) -> Workload:
    started = time.perf_counter()
    source = MixtureSource(rng, clusters=clusters)
    queried = source.draw(size, "syn1")
    other = source.draw(round(size * OTHER_SHARE), "syn2")
    fresh = source.draw(queries * 12, "synq")
    # One random state from each of `queries` fresh conversations: held-out, like a live turn.
    first = np.flatnonzero(np.concatenate([[True], fresh.keys[1:] != fresh.keys[:-1]]))
    ends = np.concatenate([first[1:], [len(fresh)]])
    pick = [int(rng.integers(a, b)) for a, b in zip(first, ends, strict=True)][:queries]
    log(f"synthetic mixture: {size + len(other):,} rows in {time.perf_counter() - started:.1f} s")
    return Workload(
        queried,
        other,
        fresh.take(np.asarray(pick)),
        "synthetic",
        {"clusters": clusters, "generate_s": round(time.perf_counter() - started, 1)},
    )


# ------------------------------------------------------------------------------------------- database


def database_urls(config: Config) -> tuple[str, str]:
    """(admin URL, scratch database URL) on the embedded server or the server of DATABASE_URL."""
    if not config.database_url:
        return config.embedded_database_url("postgres"), config.embedded_database_url(DATABASE)
    parts = urlsplit(config.database_url)
    return config.database_url, urlunsplit(parts._replace(path="/" + DATABASE))


def create_table(conn: psycopg.Connection[Any], table: str) -> None:
    t = sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(t))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "
            "bucket smallint NOT NULL CHECK (bucket >= 0), "
            "turn_index integer NOT NULL CHECK (turn_index >= 0), "
            "converted boolean NOT NULL, conversation_key varchar(200) NOT NULL, "
            "vector halfvec(64) NOT NULL, model_id bigint NOT NULL)"
        ).format(t)
    )
    conn.execute(sql.SQL("CREATE INDEX {} ON {} (model_id)").format(sql.Identifier(f"{table}_model"), t))
    conn.execute(sql.SQL("CREATE INDEX {} ON {} (model_id, bucket)").format(sql.Identifier(f"{table}_mb"), t))


def copy_rows(conn: psycopg.Connection[Any], table: str, model_id: int, states: States, label: str) -> float:
    """Binary COPY of `states` as `model_id`'s rows; returns seconds."""
    started = time.perf_counter()
    buckets = states.buckets
    statement = sql.SQL(
        "COPY {} (model_id, bucket, turn_index, converted, conversation_key, vector) "
        "FROM STDIN WITH (FORMAT BINARY)"
    ).format(sql.Identifier(table))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["int8", "int2", "int4", "bool", "varchar", "halfvec"])
        for i in range(len(states)):
            copy.write_row(
                (
                    model_id,
                    int(buckets[i]),
                    int(states.turn_index[i]),
                    bool(states.converted[i]),
                    str(states.keys[i])[:200],
                    HalfVector(states.vectors[i]),
                )
            )
            if i and i % 250_000 == 0:
                log(f"{label}: COPY {i:,}/{len(states):,} rows ({time.perf_counter() - started:.0f} s)")
    conn.commit()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Variant:
    name: str
    m: int
    ef_construction: int
    partial: bool = False  # one HNSW index per bucket (WHERE bucket = b) instead of one for all rows


# Keep in step with scoring.models.TrainingState.Meta (this script does not import Django). m=16 with
# ef_construction=64 reached the target at 100k states but not at 1M (recall 0.93 at ef_search 100).
PRODUCT = Variant("m16_efc128", 16, 128)
CANDIDATES = (
    Variant("m24_efc128", 24, 128),
    Variant("m16_efc200", 16, 200),
    Variant("partial_per_bucket_m16_efc128", 16, 128, partial=True),
)


@contextlib.contextmanager
def build_progress(url: str, table: str, label: str) -> Iterator[None]:
    """Log pg_stat_progress_create_index every 20 s from another connection while an index builds."""
    stop = threading.Event()

    def poll() -> None:
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.wait(20):
                row = conn.execute(
                    "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index "
                    "WHERE datname = current_database() AND relid = %s::regclass",
                    [table],
                ).fetchone()
                if row:
                    done = f", {row[1]:,}/{row[2]:,} tuples" if row[2] else ""
                    log(f"{label}: building, {time.perf_counter() - started:.0f} s, {row[0]}{done}")

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def build_index(
    conn: psycopg.Connection[Any], url: str, table: str, variant: Variant, *, mwm: str, workers: int
) -> tuple[float, int, list[str]]:
    """Drop the table's HNSW indexes and build `variant`'s; (seconds, bytes, index names). ANALYZEs too."""
    for (name,) in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef ILIKE '%%USING hnsw%%'", [table]
    ).fetchall():
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    conn.commit()
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(mwm)))
    conn.execute(sql.SQL("SET max_parallel_maintenance_workers = {}").format(sql.Literal(workers)))
    conn.commit()
    names = [f"{table}_hnsw_b{b}" for b in range(N_BUCKETS)] if variant.partial else [f"{table}_hnsw"]
    started = time.perf_counter()
    with build_progress(url, table, f"{table} {variant.name}"):
        for b, name in enumerate(names):
            where = sql.SQL(" WHERE bucket = {}").format(sql.Literal(b)) if variant.partial else sql.SQL("")
            conn.execute(
                sql.SQL(
                    "CREATE INDEX {} ON {} USING hnsw (vector halfvec_l2_ops) "
                    "WITH (m = {}, ef_construction = {}){}"
                ).format(
                    sql.Identifier(name),
                    sql.Identifier(table),
                    sql.Literal(variant.m),
                    sql.Literal(variant.ef_construction),
                    where,
                )
            )
            conn.commit()
    seconds = time.perf_counter() - started
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    conn.commit()
    size = sum(
        int(conn.execute("SELECT pg_relation_size(%s::regclass)", [name]).fetchone()[0])  # type: ignore[index]
        for name in names
    )
    return seconds, size, names


# -------------------------------------------------------------------------------------------- queries


def exact_knn(base: States, queries: States, k: int = NEIGHBOURS) -> np.ndarray:
    """(m, k) exact L2 distances to each query's k nearest base rows of its bucket (float16 values)."""
    out = np.full((len(queries), k), np.nan)
    base_buckets, query_buckets = base.buckets, queries.buckets
    for bucket in np.unique(query_buckets):
        rows = np.flatnonzero(base_buckets == bucket)
        asked = np.flatnonzero(query_buckets == bucket)
        if not rows.size:
            continue
        x = base.vectors[rows].astype(np.float64)
        norms = np.einsum("ij,ij->i", x, x)
        take = min(k, rows.size)
        for start in range(0, asked.size, 32):
            chunk = asked[start : start + 32]
            q = queries.vectors[chunk].astype(np.float64)
            d2 = np.einsum("ij,ij->i", q, q)[:, None] + norms[None, :] - 2.0 * q @ x.T
            part = np.partition(d2, take - 1, axis=1)[:, :take]
            out[chunk, :take] = np.sqrt(np.maximum(np.sort(part, axis=1), 0.0))
    return out


def contrast(base: States, queries: States, truth: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """How clustered the data looks from the queries: nearest / 10th / random same-bucket distances.

    random/nearest is the "relative contrast": near 1 means iid-Gaussian-like (HNSW's worst case).
    """
    base_buckets = base.buckets
    random_d = []
    for i, b in enumerate(queries.buckets):
        rows = np.flatnonzero(base_buckets == b)
        pick = base.vectors[rng.choice(rows, size=min(200, rows.size), replace=False)].astype(np.float64)
        random_d.append(float(np.mean(np.linalg.norm(pick - queries.vectors[i].astype(np.float64), axis=1))))
    nearest, tenth = float(np.nanmean(truth[:, 0])), float(np.nanmean(truth[:, -1]))
    return {
        "nn1_mean": round(nearest, 4),
        "nn10_mean": round(tenth, 4),
        "random_mean": round(float(np.mean(random_d)), 4),
        "relative_contrast": round(float(np.mean(random_d)) / max(nearest, 1e-9), 2),
    }


def literal(vector: np.ndarray) -> str:
    """The query vector as Django's L2Distance sends it: a '[...]' text literal."""
    return HalfVector(vector).to_text()


@dataclass
class Sample:
    txn_ms: float
    select_ms: float
    distances: list[float]


def run_query(
    cur: psycopg.ClientCursor[Any],
    conn: psycopg.Connection[Any],
    table: str,
    vector: str,
    bucket: int,
    *,
    ef: int | None,
) -> Sample:
    """One live neighbour query in its own transaction (ef None: the exact query, index scans off)."""
    statement = KNN_SQL.format(table=table)
    started = time.perf_counter()
    with conn.transaction():
        if ef is None:
            cur.execute("SET LOCAL enable_indexscan = off")
        else:
            cur.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            cur.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
        selected = time.perf_counter()
        cur.execute(statement, (vector, QUERIED_MODEL, bucket))
        rows = cur.fetchall()
        select_ms = (time.perf_counter() - selected) * 1000
    return Sample((time.perf_counter() - started) * 1000, select_ms, [float(r[0]) for r in rows])


def recall(found: list[float], truth: np.ndarray) -> float:
    """Share of the exact top-10 found, by distance (rows at the 10th exact distance count: ties)."""
    valid = truth[np.isfinite(truth)]
    if not valid.size:
        return 1.0
    kth = float(valid[-1]) * (1 + RECALL_RTOL) + 1e-6
    return min(len(valid), sum(1 for d in found if d <= kth)) / len(valid)


def pct(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 3)


def measure(
    conn: psycopg.Connection[Any],
    table: str,
    queries: States,
    truth: np.ndarray,
    ef: int | None,
    *,
    limit: int | None = None,
) -> dict[str, Any]:
    """Warm pass, then the timed pass over the queries: latency percentiles, recall, short answers."""
    n = len(queries) if limit is None else min(limit, len(queries))
    vectors = [literal(queries.vectors[i]) for i in range(n)]
    buckets = [int(b) for b in queries.buckets[:n]]
    with conn.cursor() as cur:
        assert isinstance(cur, psycopg.ClientCursor)
        for i in range(n):
            run_query(cur, conn, table, vectors[i], buckets[i], ef=ef)
        gc.collect()
        gc.disable()
        try:
            samples = [run_query(cur, conn, table, vectors[i], buckets[i], ef=ef) for i in range(n)]
        finally:
            gc.enable()
    recalls = [recall(s.distances, truth[i]) for i, s in enumerate(samples)]
    txn = [s.txn_ms for s in samples]
    result: dict[str, Any] = {
        "p50_ms": pct(txn, 50),
        "p95_ms": pct(txn, 95),
        "p99_ms": pct(txn, 99),
        "max_ms": pct(txn, 100),
        "select_p50_ms": pct([s.select_ms for s in samples], 50),
        "select_p99_ms": pct([s.select_ms for s in samples], 99),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "recall_min": round(float(np.min(recalls)), 2),
        "short_answers": sum(1 for s in samples if len(s.distances) < NEIGHBOURS),
        "queries": n,
    }
    by_bucket = {}
    for b in sorted(set(buckets)):
        idx = [i for i in range(n) if buckets[i] == b]
        by_bucket[str(b)] = {
            "n": len(idx),
            "p99_ms": pct([txn[i] for i in idx], 99),
            "recall_at_10": round(float(np.mean([recalls[i] for i in idx])), 4),
        }
    result["by_bucket"] = by_bucket
    if ef is None:
        worst = max(
            (abs(a - b) for i, s in enumerate(samples) for a, b in zip(s.distances, truth[i], strict=False)),
            default=0.0,
        )
        result["max_abs_diff_vs_numpy"] = float(f"{worst:.3g}")
    return result


def plan_nodes(plan: dict[str, Any]) -> list[str]:
    name = plan["Node Type"] + (f" using {plan['Index Name']}" if "Index Name" in plan else "")
    return [name] + [n for child in plan.get("Plans", []) for n in plan_nodes(child)]


def find_node(plan: dict[str, Any], node_type: str) -> dict[str, Any] | None:
    if node_type in plan["Node Type"]:
        return plan
    for child in plan.get("Plans", []):
        found = find_node(child, node_type)
        if found:
            return found
    return None


def explain(
    conn: psycopg.Connection[Any], table: str, queries: States, ef: int | None, index_names: list[str]
) -> dict[str, Any]:
    """Per bucket: the plan's nodes and, from EXPLAIN ANALYZE, rows removed by the filter and buffers."""
    out: dict[str, Any] = {}
    buckets = queries.buckets
    with conn.cursor() as cur:
        for b in range(N_BUCKETS):
            rows = np.flatnonzero(buckets == b)
            if not rows.size:
                continue
            vector = literal(queries.vectors[rows[0]])
            with conn.transaction():
                if ef is None:
                    cur.execute("SET LOCAL enable_indexscan = off")
                else:
                    cur.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                    cur.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
                statement = KNN_SQL.format(table=table)
                cur.execute("EXPLAIN (FORMAT JSON) " + statement, (vector, QUERIED_MODEL, b))
                plan = cur.fetchone()[0][0]["Plan"]  # type: ignore[index]
                cur.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, (vector, QUERIED_MODEL, b)
                )
                analysed = cur.fetchone()[0][0]  # type: ignore[index]
            nodes = plan_nodes(plan)
            scan = find_node(analysed["Plan"], "Scan") or analysed["Plan"]
            out[str(b)] = {
                "plan": " > ".join(nodes),
                "hnsw": any(name in node for node in nodes for name in index_names),
                "rows": int(analysed["Plan"].get("Actual Rows", 0)),
                "rows_removed_by_filter": int(scan.get("Rows Removed by Filter", 0)),
                "shared_hit": int(scan.get("Shared Hit Blocks", 0)),
                "shared_read": int(scan.get("Shared Read Blocks", 0)),
                "execution_ms": round(float(analysed.get("Execution Time", 0.0)), 3),
            }
    return out


def passing_ef(efs: dict[str, dict[str, Any]]) -> int | None:
    """The smallest ef_search meeting the target, or None."""
    good = [
        int(ef)
        for ef, r in efs.items()
        if r["p99_ms"] <= TARGET_P99_MS and r["recall_at_10"] >= TARGET_RECALL
    ]
    return min(good) if good else None


# ----------------------------------------------------------------------------------------------- main


def maintenance_work_mem() -> str:
    """2GB, or a quarter of the available memory when that is less."""
    try:
        with open("/proc/meminfo") as handle:
            info = {line.split(":")[0]: int(line.split()[1]) for line in handle}
        available_mb = info.get("MemAvailable", 8 << 20) // 1024
    except OSError:
        available_mb = 8192
    return f"{max(256, min(2048, available_mb // 4))}MB"


def bucket_shares(states: States) -> list[float]:
    counts = np.bincount(states.buckets, minlength=N_BUCKETS)
    return [round(float(c) / max(1, len(states)), 3) for c in counts]


def print_table(size: int, variant: str, info: dict[str, Any]) -> None:
    print(
        f"\n{size:,} states ({info['source']}), {variant}: build {info['build_s']:.1f} s, "
        f"index {info['index_mb']:.1f} MB, HNSW used in every bucket: {info['index_used']}"
    )
    print(
        f"  {'ef':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'sel p99':>8} {'recall':>7} "
        f"{'short':>6}  met"
    )
    for ef, r in info["ef"].items():
        met = r["p99_ms"] <= TARGET_P99_MS and r["recall_at_10"] >= TARGET_RECALL
        print(
            f"  {ef:>5} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f} {r['select_p99_ms']:8.2f} "
            f"{r['recall_at_10']:7.4f} {r['short_answers']:6d}  {'yes' if met else 'no'}"
        )
        worst = min(r["by_bucket"].items(), key=lambda kv: kv[1]["recall_at_10"])
        slow = max(r["by_bucket"].items(), key=lambda kv: kv[1]["p99_ms"])
        print(
            f"        lowest recall: bucket {worst[0]} {worst[1]['recall_at_10']:.4f}; "
            f"slowest p99: bucket {slow[0]} {slow[1]['p99_ms']:.2f} ms"
        )


def run_variant(
    conn: psycopg.Connection[Any],
    qconn: psycopg.Connection[Any],
    url: str,
    table: str,
    variant: Variant,
    work: Workload,
    truth: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, Any]:
    log(f"{table}: building HNSW {variant.name} over {len(work.queried) + len(work.other):,} rows")
    build_s, index_bytes, names = build_index(
        conn, url, table, variant, mwm=args.mwm, workers=args.build_workers
    )
    log(f"{table}: {variant.name} built in {build_s:.1f} s, {index_bytes / 1e6:.1f} MB")
    plans = explain(qconn, table, work.queries, PRODUCT_EF_SEARCH, names)
    info: dict[str, Any] = {
        "m": variant.m,
        "ef_construction": variant.ef_construction,
        "partial_per_bucket": variant.partial,
        "build_s": round(build_s, 1),
        "index_mb": round(index_bytes / 1e6, 1),
        "index_used": all(p["hnsw"] for p in plans.values()),
        "explain": plans,
        "ef": {},
    }
    for ef in args.ef:
        log(f"{table} {variant.name}: ef_search={ef}, {len(work.queries)} queries (warm pass, then timed)")
        info["ef"][str(ef)] = measure(qconn, table, work.queries, truth, ef)
    info["met_at_ef"] = passing_ef(info["ef"])
    return info


def run_size(
    size: int,
    work: Workload,
    admin: psycopg.Connection[Any],
    url: str,
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> dict[str, Any]:
    table = f"bench_knn_states_{size}"
    create_table(admin, table)
    admin.commit()
    copy_s = copy_rows(admin, table, OTHER_MODEL, work.other, f"{table} model 2")
    copy_s += copy_rows(admin, table, QUERIED_MODEL, work.queried, f"{table} model 1")
    rows = len(work.queried) + len(work.other)
    log(f"{table}: loaded {rows:,} rows by binary COPY in {copy_s:.1f} s ({rows / copy_s:,.0f} rows/s)")
    size_row = admin.execute("SELECT pg_table_size(%s::regclass)", [table]).fetchone()
    table_mb = int(size_row[0]) / 1e6 if size_row else float("nan")
    log(f"{table}: exact ground truth in numpy for {len(work.queries)} queries")
    started = time.perf_counter()
    truth = exact_knn(work.queried, work.queries)
    truth_s = time.perf_counter() - started
    data_contrast = contrast(work.queried, work.queries, truth, rng)
    log(f"{table}: distances seen from the queries {data_contrast}")

    known = {v.name: v for v in (PRODUCT, *CANDIDATES)}
    if args.variants in ("auto", "product"):
        queue = [PRODUCT]
    elif args.variants == "all":
        queue = [PRODUCT, *CANDIDATES]
    else:
        queue = [PRODUCT] + [known[n] for n in args.variants.split(",") if n != PRODUCT.name]
    results: dict[str, dict[str, Any]] = {}
    qconn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor)
    try:
        while queue:
            variant = queue.pop(0)
            info = run_variant(admin, qconn, url, table, variant, work, truth, args)
            results[variant.name] = info
            print_table(size, variant.name, {"source": work.source, **info})
            if variant == PRODUCT:
                log(f"{table}: exact query for reference ({args.exact_queries} queries)")
                exact = measure(qconn, table, work.queries, truth, None, limit=args.exact_queries)
                exact.pop("by_bucket")
                exact["plan"] = explain(qconn, table, work.queries, None, [])["0"]["plan"]
                info["exact"] = exact
                print(
                    f"  exact (index scans off, {exact['queries']} queries): p50 {exact['p50_ms']:.2f} ms, "
                    f"p99 {exact['p99_ms']:.2f} ms, plan {exact['plan']}; "
                    f"vs numpy max |diff| {exact['max_abs_diff_vs_numpy']}"
                )
                info["copy_into_index"] = copy_into_index(admin, table, work, args.insert_rows)
                if args.variants == "auto" and info["met_at_ef"] is None:
                    queue = list(CANDIDATES)
            elif args.variants == "auto" and info["met_at_ef"] is not None:
                queue = []
    finally:
        qconn.close()
        if not args.keep:
            admin.rollback()
            admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            admin.commit()
    product = results[PRODUCT.name]
    return {
        "source": work.source,
        "rows": rows,
        "queried_model_rows": len(work.queried),
        "other_model_rows": len(work.other),
        "bucket_shares": bucket_shares(work.queried),
        "query_bucket_counts": np.bincount(work.queries.buckets, minlength=N_BUCKETS).tolist(),
        "distances": data_contrast,
        "copy_rows_per_s": round(rows / copy_s),
        "table_mb": round(table_mb, 1),
        "numpy_truth_s": round(truth_s, 2),
        "build_s": product["build_s"],
        "index_mb": product["index_mb"],
        "ef": product["ef"],
        "exact_p50_ms": product["exact"]["p50_ms"],
        "exact": product["exact"],
        "index_used": product["index_used"],
        "explain_at_ef_100": product["explain"],
        "copy_into_index": product["copy_into_index"],
        "met_with_product_index": product["met_at_ef"] is not None,
        "met_by": [
            {"variant": name, "ef_search": r["met_at_ef"]} for name, r in results.items() if r["met_at_ef"]
        ],
        "variants": {
            name: {
                **{k: r[k] for k in ("m", "ef_construction", "partial_per_bucket", "build_s", "index_mb")},
                "index_used": r["index_used"],
                "met_at_ef": r["met_at_ef"],
                "ef": {
                    ef: {k: e[k] for k in ("p50_ms", "p99_ms", "recall_at_10", "short_answers")}
                    for ef, e in r["ef"].items()
                },
            }
            for name, r in results.items()
            if name != PRODUCT.name
        },
        **work.notes,
    }


def copy_into_index(
    conn: psycopg.Connection[Any], table: str, work: Workload, rows: int
) -> dict[str, Any] | None:
    """COPY `rows` new rows (model 3: model 2's vectors plus 2 % noise) into the indexed table, timed."""
    if rows <= 0 or not len(work.other):
        return None
    rng = np.random.default_rng(3)
    source = work.other.take(rng.integers(0, len(work.other), rows))
    spread = work.other.vectors.astype(np.float32).std(axis=0)
    noisy = source.vectors.astype(np.float32) + rng.standard_normal(source.vectors.shape) * 0.02 * spread
    fresh = States(noisy.astype(np.float16), source.turn_index, source.converted, source.keys)
    seconds = copy_rows(conn, table, INSERTED_MODEL, fresh, f"{table} model 3 into the index")
    log(
        f"{table}: COPY of {rows:,} rows into the indexed table: {seconds:.1f} s "
        f"({rows / seconds:,.0f} rows/s)"
    )
    return {"rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds)}


def server_settings(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    def setting(name: str) -> str | None:
        row = conn.execute("SELECT current_setting(%s, true)", [name]).fetchone()
        return None if row is None else row[0]

    conn.execute("SELECT '[1]'::halfvec")  # loads the extension library, so its settings are visible
    version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return {
        "server": setting("server_version"),
        "pgvector": version[0] if version else None,
        "shared_buffers": setting("shared_buffers"),
        "effective_cache_size": setting("effective_cache_size"),
        "hnsw.max_scan_tuples": setting("hnsw.max_scan_tuples"),
        "hnsw.scan_mem_multiplier": setting("hnsw.scan_mem_multiplier"),
        "jit": setting("jit"),
    }


def parse_ints(text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=parse_ints, default=[100_000, 1_000_000], help="states of the queried model"
    )
    parser.add_argument("--queries", type=int, default=500, help="held-out query vectors (default 500)")
    parser.add_argument("--ef", type=parse_ints, default=[40, 100, 200], help="hnsw.ef_search values")
    parser.add_argument("--exact-queries", type=int, default=50, help="queries timed without the index")
    parser.add_argument("--source", choices=("simulated", "synthetic"), default="simulated")
    parser.add_argument(
        "--simulate-up-to",
        type=int,
        default=100_000,
        help="largest size built from simulated conversations; larger sizes are synthetic (default 100000)",
    )
    parser.add_argument(
        "--encode-budget-s",
        type=float,
        default=360.0,
        help="time box for simulating + encoding; the rest is grown around real states (default 360)",
    )
    parser.add_argument("--clusters", type=int, default=2000, help="mixture clusters of the synthetic source")
    parser.add_argument(
        "--variants",
        default="auto",
        help="index settings: auto (product's, others only if it misses the target), product, all, or "
        f"names from {', '.join(v.name for v in (PRODUCT, *CANDIDATES))}",
    )
    parser.add_argument("--build-workers", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument(
        "--insert-rows", type=int, default=10_000, help="rows COPYed into the indexed table (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark tables")
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("SALESRL_STATE_DIR") or ROOT / ".state")
    )
    args = parser.parse_args(argv)
    args.mwm = maintenance_work_mem()
    started = time.perf_counter()

    config = Config.from_env()
    admin_url, url = database_urls(config)
    ensure_database(admin_url, DATABASE)
    admin = psycopg.connect(url)
    admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
    admin.commit()
    register_vector(admin)
    settings = server_settings(admin)
    admin.commit()
    log(f"database {DATABASE}: PostgreSQL {settings['server']}, pgvector {settings['pgvector']}")

    rng = np.random.default_rng(args.seed)
    simulated_sizes = [s for s in args.sizes if args.source == "simulated" and s <= args.simulate_up_to]
    pool = None
    if simulated_sizes:
        largest = max(simulated_sizes)
        needed = int(largest * (1 + OTHER_SHARE)) + 4 * args.queries + 500
        log(f"simulating conversations for {needed:,} states (budget {args.encode_budget_s:.0f} s)")
        pool = encode_simulated(
            needed, budget_s=args.encode_budget_s, seed=args.seed, state_dir=args.state_dir
        )

    sizes: dict[str, Any] = {}
    try:
        for size in args.sizes:
            if pool is not None and size in simulated_sizes:
                work = simulated_workload(size, pool, queries=args.queries, rng=rng)
            else:
                work = synthetic_workload(size, queries=args.queries, rng=rng, clusters=args.clusters)
            log(f"size {size:,}: {work.source}, model-1 bucket shares {bucket_shares(work.queried)}")
            sizes[str(size)] = run_size(size, work, admin, url, args, rng)
    finally:
        admin.close()

    met = all(s["met_with_product_index"] for s in sizes.values())
    print("\nsummary (target: p99 <= 10 ms at recall@10 >= 0.95)")
    for size, s in sizes.items():
        how = (
            ", ".join(f"{m['variant']} at ef_search={m['ef_search']}" for m in s["met_by"]) or "nothing tried"
        )
        print(f"  {int(size):>9,} states ({s['source']}): {'met' if s['met_by'] else 'NOT met'} by {how}")
    total_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "benchmark": "neighbour_search",
                "sizes": sizes,
                "target": {"p99_ms": TARGET_P99_MS, "recall_at_10": TARGET_RECALL},
                "met": met,
                "met_any_settings": all(bool(s["met_by"]) for s in sizes.values()),
                "settings": {
                    "product": {
                        "m": PRODUCT.m,
                        "ef_construction": PRODUCT.ef_construction,
                        "opclass": "halfvec_l2_ops",
                        "iterative_scan": "strict_order",
                        "ef_search_default": PRODUCT_EF_SEARCH,
                    },
                    "maintenance_work_mem": args.mwm,
                    "max_parallel_maintenance_workers": args.build_workers,
                    "queries": args.queries,
                    "ef_search": args.ef,
                    "seed": args.seed,
                    **settings,
                },
                "total_s": round(total_s, 1),
                "cpu_count": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
