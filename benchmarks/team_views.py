"""Manager team views at scale (issue 6): server time of the overview, the library searches and the exports.

    .state/venv/bin/python -m salesrl.stack services      # the embedded PostgreSQL (or set DATABASE_URL)
    .state/venv/bin/python benchmarks/team_views.py [--conversations 100000] [--repeats 30] [--keep]
        [--reseed] [--cases PREFIX,...] [--prototypes auto|all|off] [--seed N]

Database. A scratch database (--database, default salesrl_bench_teamviews) on the embedded server, or on
the server of DATABASE_URL; the product database is never touched. The project's migrations are run into
it, then it is seeded with binary/text COPY. A seeded database records what it holds (table bench_meta):
a rerun with the same --conversations and --seed reuses it and skips seeding (--reseed forces a fresh
one). At the end the database is dropped unless --keep is given (keep it to rerun the measurements).

Data (seeded, deterministic for a --seed). 5 teams of uneven size (30/25/20/15/10 % of the
conversations), 8 reps each (uneven activity), one manager per team, one admin (superuser with an admin
membership in every team, like the demo). --conversations (default 100,000) started over the last 365
days in business hours; a conversation is open with probability 0.05 + 0.9 exp(-age/45 days) (about 16 %
overall, mostly recent), the rest won or lost as the simulator decided (about 43 / 57). Transcripts are
scoring.ml.simulator conversations (its template vocabulary, industries, products, names and acts): a
transcript shorter than a drawn length (3-30 turns, mean about 15) is continued with a follow-up
segment of the same industry (its opening line dropped), capped at 30 turns; open conversations stop
partway. So about 1.5M turns for 100k conversations. Timestamps: channel-dependent reply gaps (chat,
call, meeting, email), duration_s for calls and meetings. Every rep turn has a TurnAct (the simulator's
act). One Score per scored turn (model bench-policy-1; bench-policy-0 for conversations older than 180
days) from a synthetic logit trajectory: a bridge from a start to an outcome-dependent end with noise,
a sudden fall in a quarter of the conversations (partly recovered); 1 % of conversations are unscored and
a fifth of the open ones have an unscored last turn. One ConversationSummary per conversation, computed
with the product's own code where it counts: coaching.summaries.Trajectory.of for the probabilities and
drops, coaching.ml.nudges.prefix_metrics for the behaviour metrics, words per speaker, the act at the
largest drop; guidance_shown / guidance_followed are random (no Guidance rows are seeded).

The search document is built in SQL exactly like coaching.summaries.refresh_summary does:
to_tsvector('english', the turn texts joined by newlines). The embeddings are SYNTHETIC: 384-d unit
vectors from a Gaussian mixture (industry + product + outcome components plus per-conversation noise;
cosine ~0.7 within a product and outcome, ~0.4 within an industry, ~0 across), stored as halfvec with the
local embedder's name; 1 % have none (a failed embedder). Embedding 1.5M turns with MiniLM would take
about an hour on this kind of machine, and the search cost does not depend on what the vectors mean.

Plain indexes of the big tables are dropped during the load and rebuilt after it (same definitions), and
the load runs with session_replication_role = replica (no per-row foreign-key triggers) when the role is
allowed to; then VACUUM ANALYZE. Seeding time and table sizes are reported.

Measurements. The real API views, in-process through django.test.Client with a logged-in session
(force_login) of the manager of the largest team and of the admin: middleware, authentication, the view,
its queries and the JSON rendering, no network. Each case: --warmup untimed requests, one request under
django.test.utils.CaptureQueriesContext (query count, time in SQL, the slowest query), then --repeats
timed requests (--export-repeats for the exports, --big-repeats for the big ones): p50 / p95 / max in ms.
Exports (streaming) are timed to the last byte of the stream, with the time to the first chunk (TTFB),
bytes and rows/s; the test client takes the WSGI path, so daphne's async hand-over of the chunks
(salesrl.streaming) is not in these figures. Cases:

    overview.{manager,admin}.12w    /api/v1/dashboard/overview/ (default range: the last 12 weeks)
    overview.admin.year             ... ?started_after=<today - 364 days>
    library.{manager,admin}.newest  /api/v1/library/ (newest first, first page of 50)
    library.admin.page100           ... ?page=100 (OFFSET 4950)
    library.admin.lost_high_lost    ... ?outcome=lost&shape=high_lost
    search.{manager,admin}.common.relevance, search.admin.common.newest    ?q=<common term> [&sort=newest]
    search.admin.rare.relevance, search.admin.rare.newest                  ?q=<rare term> [&sort=newest]
    like.{manager,admin}, like.admin.won    ?like=<id> [&outcome=won], rotating over 10 won conversations
    wall.{manager,admin}            /api/v1/live-wall/
    export.{csv,turns.csv,jsonl}.team30d    /api/v1/library/export/ (manager, own team, last 30 days)
    export.csv.admin_all, export.turns.csv.admin30d, export.jsonl.admin30d  (big exports, for rows/s)

The search terms are chosen from the data: words of a sample of transcripts, the one matching closest to
25 % of conversations (common) and to 0.3 % (rare), checked with the real websearch query
(--common-term / --rare-term override them).

Target (the issue): p95 <= 300 ms for the overview and the searches (overview.*, library.*, search.*,
like.*); the live wall and the exports are reported without a target. For a case that misses it, the
slowest queries of its captured request are run under EXPLAIN (ANALYZE, BUFFERS) and the plans printed.

Prototypes (--prototypes auto, the default: for the cases that missed; all: for every case they apply
to; off: never), each built in the scratch database, measured on full requests exactly like the cases,
and undone; proposals, not migrations:

    summary_covering    overview.*  index (conversation_id) INCLUDE (the columns the overview aggregates)
    toast_target_512    overview.*, library.*, search.*, like.*, wall.*  the summary table's
                        toast_tuple_target at 512 instead of migration 0003's 128 (VACUUM FULL, restored)

The output also says how many summary rows keep each wide column in TOAST (toast_tuple_target only
applies to rows whose tuple exceeds ~2 kB when written).

Note: the server is shared (other people run tests on it), so timings carry noise; the 1-minute load
average before and after the measurements is reported. Progress goes to stderr, a readable table to
stdout; the last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import psycopg  # noqa: E402
from pgvector import HalfVector  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402
from psycopg import sql  # noqa: E402
from tqdm import tqdm  # noqa: E402

from salesrl.stack import Config, ensure_database  # noqa: E402

DATABASE = "salesrl_bench_teamviews"
META_FORMAT = 2  # bump when the seeded data changes, so old kept databases are reseeded
TARGET_P95_MS = 300.0
TARGETED = ("overview.", "library.", "search.", "like.")
EMBEDDING_DIM = 384
TEAMS = [
    ("north", "North Retail", 0.30),
    ("south", "South SMB", 0.25),
    ("east", "East Enterprise", 0.20),
    ("west", "West Mid-Market", 0.15),
    ("central", "Central Public Sector", 0.10),
]
REPS_PER_TEAM = 8
MODEL_NEW, MODEL_OLD = "bench-policy-1", "bench-policy-0"
OLD_MODEL_DAYS = 180
BIG_TABLES = [
    "conversations_conversation",
    "conversations_turn",
    "scoring_score",
    "coaching_turnact",
    "coaching_conversationsummary",
]
# Reply gaps (seconds, lognormal median) by channel; follow-up segments start 1-3 days later.
CHANNEL_GAP_S = {"chat": 20.0, "call": 6.0, "meeting": 8.0, "email": 3 * 3600.0, "other": 60.0}
WORD = re.compile(r"[a-z]{4,}")
STOPWORDS = set(
    """
    that this with have your from they what would there their about which when will were been more
    than then them into just very some could should does also only other such each these those over
    here where while because being after before doing having most both until again further once
    same below above against between through during ours yours theirs
    """.split()
)


def code_version() -> dict[str, Any]:
    """The checked-out commit and the files changed since (the team views are moving targets)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except OSError:
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "changed": changed}


def log(message: str) -> None:
    print(f"[teamviews {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- database


def database_urls(config: Config, name: str) -> tuple[str, str]:
    """(admin URL, scratch database URL) on the embedded server or the server of DATABASE_URL."""
    if not config.database_url:
        return config.embedded_database_url("postgres"), config.embedded_database_url(name)
    parts = urlsplit(config.database_url)
    return config.database_url, urlunsplit(parts._replace(path="/" + name))


def read_meta(url: str) -> dict[str, Any] | None:
    """What a kept scratch database says it holds, or None (no database, no or half-done seeding)."""
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            if conn.execute("SELECT to_regclass('bench_meta')").fetchone()[0] is None:
                return None
            row = conn.execute("SELECT value FROM bench_meta WHERE key = 'seed'").fetchone()
    except psycopg.OperationalError:
        return None
    return row[0] if row else None


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesrl.settings")
    os.environ.setdefault("SALESRL_LOG_LEVEL", "WARNING")
    # WhiteNoise warns about a missing collectstatic folder; the API views serve no static files.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()


def migrate() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------- the data


@dataclass
class People:
    admin_id: int
    team_ids: list[int]  # in TEAMS order
    team_slugs: list[str]
    managers: list[int]  # user id per team
    reps: list[list[int]]  # user ids per team


def create_people() -> People:
    """Teams, the admin, a manager per team and the reps, through the ORM (a few dozen rows)."""
    from django.contrib.auth import get_user_model

    from conversations.models import Membership, Role, Team

    User = get_user_model()
    admin = User.objects.create(username="bench-admin", is_staff=True, is_superuser=True, password="!")
    team_ids, slugs, managers, reps = [], [], [], []
    for slug, name, _ in TEAMS:
        team = Team.objects.create(slug=slug, name=name)
        Membership.objects.create(user=admin, team=team, role=Role.ADMIN)
        manager = User.objects.create(username=f"manager-{slug}", password="!")
        Membership.objects.create(user=manager, team=team, role=Role.MANAGER)
        team_reps = []
        for k in range(REPS_PER_TEAM):
            rep = User.objects.create(username=f"rep-{slug}-{k + 1}", password="!")
            Membership.objects.create(user=rep, team=team, role=Role.REP)
            team_reps.append(rep.pk)
        team_ids.append(team.pk)
        slugs.append(slug)
        managers.append(manager.pk)
        reps.append(team_reps)
    return People(admin.pk, team_ids, slugs, managers, reps)


def load_people() -> People:
    from django.contrib.auth import get_user_model

    from conversations.models import Membership, Role, Team

    User = get_user_model()
    teams = {t.slug: t for t in Team.objects.all()}
    slugs = [slug for slug, _, _ in TEAMS]
    managers, reps = [], []
    for slug in slugs:
        members = Membership.objects.filter(team=teams[slug]).select_related("user")
        managers.append(next(m.user_id for m in members if m.role == Role.MANAGER))
        reps.append(sorted(m.user_id for m in members if m.role == Role.REP))
    admin = User.objects.get(username="bench-admin")
    return People(admin.pk, [teams[s].pk for s in slugs], slugs, managers, reps)


class Mixture:
    """The synthetic embedding space: unit centres per industry, product and outcome."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.centres: dict[str, np.ndarray] = {}

    def centre(self, key: str) -> np.ndarray:
        if key not in self.centres:
            v = self.rng.standard_normal(EMBEDDING_DIM)
            self.centres[key] = v / np.linalg.norm(v)
        return self.centres[key]

    def draw(self, rng: np.random.Generator, industry: str, product: str, outcome: str) -> np.ndarray:
        v = (
            self.centre("i:" + industry)
            + 0.8 * self.centre("p:" + product)
            + 0.4 * self.centre("o:" + outcome)
            + rng.standard_normal(EMBEDDING_DIM) * (0.9 / math.sqrt(EMBEDDING_DIM))
        )
        return (v / np.linalg.norm(v)).astype(np.float16)


def target_length(rng: np.random.Generator) -> int:
    return int(min(30, 3 + round(rng.gamma(1.8, 3.5))))


def trajectory(rng: np.random.Generator, n: int, status: str) -> list[float]:
    """A synthetic probability after each turn: a noisy bridge in logit space toward the outcome."""
    x0 = rng.normal(-0.4, 0.5)
    end = {"won": rng.normal(1.4, 0.9), "lost": rng.normal(-1.6, 0.9)}.get(status, rng.normal(-0.2, 1.0))
    t = np.arange(n) / max(n - 1, 1)
    walk = np.cumsum(rng.normal(0.0, 0.25, n))
    walk -= t * walk[-1]
    path = x0 + (end - x0) * t ** rng.uniform(0.6, 1.6) + walk
    if n > 2 and rng.random() < 0.25:  # a sudden fall, partly recovered
        k = int(rng.integers(1, n))
        depth, recovery = rng.uniform(0.8, 2.0), rng.uniform(2.0, 8.0)
        path[k:] -= depth * np.exp(-(np.arange(n - k)) / recovery)
    return [round(float(p), 4) for p in 1.0 / (1.0 + np.exp(-path))]


@dataclass
class Chunk:
    conversations: list[tuple[Any, ...]] = field(default_factory=list)
    turns: list[tuple[Any, ...]] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)
    acts: list[tuple[Any, ...]] = field(default_factory=list)
    summaries: list[tuple[Any, ...]] = field(default_factory=list)


class Generator:
    """Rows of conversation i, turn by turn, with ids assigned here (the sequences are set after)."""

    def __init__(self, people: People, seed: int, now: dt.datetime, embedder: str) -> None:
        from coaching.ml.nudges import prefix_metrics
        from coaching.summaries import Trajectory
        from scoring.ml.simulator import make_policy, simulate_conversation

        self.people, self.seed, self.now, self.embedder = people, seed, now, embedder
        self.policy = make_policy("mixed")
        self.simulate = simulate_conversation
        self.prefix_metrics = prefix_metrics
        self.trajectory_of = Trajectory.of
        self.mixture = Mixture(np.random.default_rng([seed, 1]))
        shares = np.array([share for _, _, share in TEAMS])
        self.team_p = shares / shares.sum()
        rep_rng = np.random.default_rng([seed, 2])
        self.rep_p = [w / w.sum() for w in (rep_rng.pareto(2.0, REPS_PER_TEAM) + 0.5 for _ in TEAMS)]
        self.today = dt.datetime.combine(now.date(), dt.time.min, tzinfo=dt.UTC)
        self.turn_id = 0
        self.score_id = 0
        self.act_id = 0

    def segments(self, rng: np.random.Generator, i: int, target: int) -> tuple[list[Any], dict[str, Any]]:
        """(speaker, text, act, gap_days) turns of at least `target` (at most 30) and the last record."""
        record = self.simulate(rng, conversation_id=f"bench-{i}", policy=self.policy)
        industry = record["meta"]["industry"]
        turns = self.turn_acts(record, 0, 0.0)
        last = record
        k = 1
        while len(turns) < target:
            last = self.simulate(rng, conversation_id=f"bench-{i}-{k}", policy=self.policy, industry=industry)
            turns += self.turn_acts(last, 1, float(rng.uniform(1.0, 3.0)))
            k += 1
        return turns[:30], {**record, "converted": last["converted"]}

    @staticmethod
    def turn_acts(record: dict[str, Any], skip: int, gap_days: float) -> list[Any]:
        acts = iter(record["meta"]["rep_acts"])
        out = []
        for j, turn in enumerate(record["turns"]):
            act = next(acts, None) if turn["speaker"] == "rep" else None
            if j >= skip:
                out.append([turn["speaker"], turn["text"], act, gap_days if j == skip else 0.0])
        return out

    def conversation(self, i: int, chunk: Chunk) -> None:
        rng = np.random.default_rng([self.seed, 100, i])
        p = self.people
        team = int(rng.choice(len(TEAMS), p=self.team_p))
        rep = p.reps[team][int(rng.choice(REPS_PER_TEAM, p=self.rep_p[team]))]
        age = int(rng.integers(0, 365))
        started = self.today - dt.timedelta(days=age) + dt.timedelta(hours=float(rng.uniform(8.0, 18.0)))
        if started > self.now - dt.timedelta(hours=1):
            started = self.now - dt.timedelta(hours=float(rng.uniform(1.0, 6.0)))
        is_open = rng.random() < 0.05 + 0.9 * math.exp(-age / 45.0)
        turns, record = self.segments(rng, i, target_length(rng))
        if is_open and len(turns) > 3:  # still going: the transcript stops partway
            turns = turns[: max(3, int(len(turns) * rng.uniform(0.5, 0.9)))]
        status = "open" if is_open else ("won" if record["converted"] else "lost")
        meta = record["meta"]
        channel = meta["channel"]
        if channel == "call" and rng.random() < 0.2:
            channel = "meeting"
        elif channel == "chat" and rng.random() < 0.15:
            channel = "email"
        elif rng.random() < 0.02:
            channel = "other"
        gap = CHANNEL_GAP_S[channel]
        ts, times = started, []
        for n_turn, (_, _, _, gap_days) in enumerate(turns):
            if n_turn:
                ts = ts + dt.timedelta(seconds=float(rng.lognormal(math.log(gap), 0.6)), days=gap_days)
            times.append(ts)
        if times[-1] > self.now:  # a recent conversation with follow-ups: nothing lies in the future
            shift = times[-1] - self.now + dt.timedelta(minutes=float(rng.uniform(1.0, 60.0)))
            times = [t - shift for t in times]
            started = times[0]
        closed_at = None
        if not is_open:
            closed_at = min(times[-1] + dt.timedelta(days=float(rng.exponential(3.0))), self.now)
        conv_id = i + 1
        chunk.conversations.append(
            (
                conv_id,
                p.team_ids[team],
                rep,
                f"bench-{conv_id:06d}",
                channel,
                meta["industry"],
                status,
                started,
                closed_at,
                json.dumps({"source": "benchmark", "product": meta["product"]}),
                started,
            )
        )
        # Scores: every turn, except unscored conversations and some open ones' newest turn.
        n = len(turns)
        unscored = rng.random() < 0.01
        probabilities: list[float | None] = list(trajectory(rng, n, status))
        if unscored:
            probabilities = [None] * n
        elif is_open and rng.random() < 0.2:
            probabilities[-1] = None
        model = MODEL_OLD if age > OLD_MODEL_DAYS else MODEL_NEW
        acts: list[str | None] = []
        words = {"rep": 0, "customer": 0}
        timed = []
        last_confidence = None
        for index, ((speaker, text, act, _), when) in enumerate(zip(turns, times, strict=True)):
            self.turn_id += 1
            duration = round(len(text.split()) / 2.6, 1) if channel in ("call", "meeting") else None
            chunk.turns.append((self.turn_id, conv_id, index, speaker, text, when, duration, "", when))
            words[speaker] += len(text.split())
            timed.append({"speaker": speaker, "text": text, "ts": when.timestamp()})
            acts.append(act)
            if act is not None:
                self.act_id += 1
                method = "rule" if rng.random() < 0.35 else "neighbours"
                chunk.acts.append(
                    (
                        self.act_id,
                        self.turn_id,
                        act,
                        round(float(rng.uniform(0.55, 0.99)), 3),
                        method,
                        "bench",
                    )
                )
            if probabilities[index] is not None:
                self.score_id += 1
                last_confidence = round(float(rng.uniform(0.3, 0.95)), 3)
                chunk.scores.append(
                    (
                        self.score_id,
                        conv_id,
                        self.turn_id,
                        model,
                        probabilities[index],
                        last_confidence,
                        "{}",
                        when + dt.timedelta(milliseconds=float(rng.uniform(40, 160))),
                        round(float(rng.uniform(40, 160)), 1),
                    )
                )
        traj = self.trajectory_of(probabilities)
        metrics = self.prefix_metrics(timed)[-1]
        drop_act = ""
        if traj.largest_drop_turn is not None:
            drop_act = next((a for a in reversed(acts[: traj.largest_drop_turn + 1]) if a), "")
        rep_turns = sum(a is not None for a in acts)
        shown = int(rng.binomial(max(rep_turns - 1, 0), 0.6))
        followed = int(rng.binomial(shown, 0.45))
        embedded = rng.random() >= 0.01
        vector = self.mixture.draw(rng, meta["industry"], meta["product"], status) if embedded else None
        chunk.summaries.append(
            (
                conv_id,
                n,
                words["rep"],
                words["customer"],
                metrics["talk_ratio"],
                metrics["question_rate"],
                metrics["longest_monologue"],
                metrics["response_time"],
                "" if unscored else model,
                sum(q is not None for q in probabilities),
                json.dumps(probabilities),
                traj.first,
                traj.mid,
                traj.last,
                traj.peak,
                traj.low,
                last_confidence,
                traj.recent_drop,
                traj.largest_drop,
                traj.largest_drop_turn,
                drop_act,
                shown,
                followed,
                self.embedder if embedded else "",
                HalfVector(vector) if vector is not None else None,
                times[-1],
            )
        )


STAGE_COLUMNS = [
    ("conversation_id", "int8"),
    ("turn_count", "int4"),
    ("rep_words", "int4"),
    ("customer_words", "int4"),
    ("talk_ratio", "float8"),
    ("question_rate", "float8"),
    ("longest_monologue", "float8"),
    ("response_time", "float8"),
    ("model_version", "text"),
    ("scored_turns", "int4"),
    ("trajectory", "text"),
    ("first_probability", "float8"),
    ("mid_probability", "float8"),
    ("last_probability", "float8"),
    ("peak_probability", "float8"),
    ("low_probability", "float8"),
    ("last_confidence", "float8"),
    ("recent_drop", "float8"),
    ("largest_drop", "float8"),
    ("largest_drop_turn", "int4"),
    ("largest_drop_act", "text"),
    ("guidance_shown", "int4"),
    ("guidance_followed", "int4"),
    ("embedder", "text"),
    ("embedding", "halfvec"),
    ("updated_at", "timestamptz"),
]
COPIES = [
    (
        "conversations",
        "conversations_conversation",
        "id, team_id, rep_id, external_id, channel, industry, status, started_at, closed_at, metadata, "
        "created_at",
    ),
    (
        "turns",
        "conversations_turn",
        'id, conversation_id, "index", speaker, text, ts, duration_s, client_key, created_at',
    ),
    (
        "scores",
        "scoring_score",
        "id, conversation_id, turn_id, model_version, probability, confidence, details, scored_at, "
        "latency_ms",
    ),
    ("acts", "coaching_turnact", "id, turn_id, act, score, method, classifier"),
]


def plain_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the big tables' indexes that do not back a constraint (PK, unique)."""
    return conn.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                            WHERE c.conindid = to_regclass(quote_ident(i.indexname)))
         ORDER BY i.tablename, i.indexname
        """,
        [BIG_TABLES],
    ).fetchall()


def seed(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the migrated scratch database; returns the seeding figures (also stored in bench_meta)."""

    from scoring.ml import features

    timings: dict[str, float] = {}
    started = time.perf_counter()
    # The simulator's texts repeat (templates): an unbounded cache of the turn analysis behind
    # prefix_metrics (the product keeps 4096) halves the generation time; restored after seeding.
    cached = features._analyze_cached
    features._analyze_cached = functools.lru_cache(maxsize=None)(features._analyze_uncached)
    try:
        return _seed(url, args, started, timings)
    finally:
        features._analyze_cached = cached


def _seed(url: str, args: argparse.Namespace, started: float, timings: dict[str, float]) -> dict[str, Any]:
    from scoring.ml.embeddings import LOCAL_MODEL_NAME, LOCAL_QUANTIZATION

    people = create_people()
    now = dt.datetime.now(dt.UTC)
    generator = Generator(people, args.seed, now, f"{LOCAL_MODEL_NAME}/{LOCAL_QUANTIZATION}")
    conn = psycopg.connect(url)
    register_vector(conn)
    conn.execute("SET maintenance_work_mem = '512MB'")
    try:
        conn.execute("SET session_replication_role = replica")
        replica = True
    except psycopg.Error:
        conn.rollback()
        replica = False
    conn.commit()
    indexes = plain_indexes(conn)
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    columns = ", ".join(f"{name} {kind}" for name, kind in STAGE_COLUMNS)
    conn.execute(f"CREATE UNLOGGED TABLE bench_summary_stage ({columns})")
    conn.commit()
    log(
        f"seeding {args.conversations:,} conversations (plain indexes dropped: {len(indexes)}, "
        f"foreign-key triggers {'off' if replica else 'on'})"
    )
    gen_s = copy_s = 0.0
    counts = Counter()
    with tqdm(total=args.conversations, unit="conv", file=sys.stderr, smoothing=0.05) as bar:
        for start in range(0, args.conversations, args.chunk):
            t0 = time.perf_counter()
            chunk = Chunk()
            for i in range(start, min(start + args.chunk, args.conversations)):
                generator.conversation(i, chunk)
            t1 = time.perf_counter()
            with conn.cursor() as cur:
                for attr, table, cols in COPIES:
                    rows = getattr(chunk, attr)
                    counts[attr] += len(rows)
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                names = ", ".join(name for name, _ in STAGE_COLUMNS)
                with cur.copy(f"COPY bench_summary_stage ({names}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types([kind for _, kind in STAGE_COLUMNS])
                    for row in chunk.summaries:
                        copy.write_row(row)
            conn.commit()
            gen_s += t1 - t0
            copy_s += time.perf_counter() - t1
            bar.update(len(chunk.conversations))
            bar.set_postfix(turns=f"{counts['turns']:,}")
    timings["generate_s"] = gen_s
    timings["copy_s"] = copy_s
    log(f"generated in {gen_s:.0f} s, copied in {copy_s:.0f} s; summaries with search documents (SQL)")
    t0 = time.perf_counter()
    names = ", ".join(name if name != "trajectory" else "trajectory::jsonb" for name, _ in STAGE_COLUMNS)
    target = ", ".join(name for name, _ in STAGE_COLUMNS)
    # Fresh tables have no statistics: without them the planner may pick a plan that re-aggregates the
    # turns per summary. A lateral lookup by (conversation_id, index), the unique index, is plan-proof.
    conn.execute("ANALYZE bench_summary_stage")
    conn.execute("ANALYZE conversations_turn")
    conn.commit()
    step = max(args.chunk * 5, 10_000)
    with tqdm(total=args.conversations, unit="conv", file=sys.stderr, desc="summaries") as bar:
        for low in range(0, args.conversations, step):
            conn.execute(
                f"""
                INSERT INTO coaching_conversationsummary ({target}, search_document)
                SELECT {names}, to_tsvector('english'::regconfig, coalesce(d.doc, ''))
                  FROM bench_summary_stage s
                  CROSS JOIN LATERAL (SELECT string_agg(t.text, E'\\n' ORDER BY t."index") AS doc
                                        FROM conversations_turn t
                                       WHERE t.conversation_id = s.conversation_id) d
                 WHERE s.conversation_id > %(lo)s AND s.conversation_id <= %(hi)s
                """,
                {"lo": low, "hi": low + step},
            )
            conn.commit()
            bar.update(min(step, args.conversations - low))
    conn.execute("DROP TABLE bench_summary_stage")
    conn.commit()
    timings["summaries_s"] = time.perf_counter() - t0
    log(f"summaries in {timings['summaries_s']:.0f} s; rebuilding {len(indexes)} indexes")
    t0 = time.perf_counter()
    for name, definition in indexes:
        t_index = time.perf_counter()
        conn.execute(definition)
        conn.commit()
        log(f"  {name}: {time.perf_counter() - t_index:.1f} s")
    for table in BIG_TABLES[:4]:
        conn.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence({t}, 'id'), (SELECT max(id) FROM {i}))").format(
                t=sql.Literal(table), i=sql.Identifier(table)
            )
        )
    conn.commit()
    timings["indexes_s"] = time.perf_counter() - t0
    conn.close()
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as vacuum:
        for table in BIG_TABLES:
            vacuum.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    timings["vacuum_analyze_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    meta = {
        "format": META_FORMAT,
        "conversations": args.conversations,
        "seed": args.seed,
        "seeded_at": now.isoformat(),
        "rows": dict(counts),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "foreign_key_triggers_during_load": not replica,
        "embedder": generator.embedder,
    }
    with psycopg.connect(url) as c:
        c.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
        c.execute(
            "INSERT INTO bench_meta VALUES ('seed', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(meta)],
        )
    log(f"seeded in {timings['total_s']:.0f} s: {dict(counts)}")
    return meta


def table_sizes(url: str) -> dict[str, dict[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid),
                   coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), pg_indexes_size(c.oid),
                   pg_total_relation_size(c.oid)
              FROM pg_class c WHERE c.relname = ANY(%s) ORDER BY c.relname
            """,
            [BIG_TABLES],
        ).fetchall()
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    sizes = {
        name: {
            "rows": rows_,
            "heap_bytes": heap,
            "toast_bytes": toast,
            "index_bytes": index,
            "total_bytes": total,
        }
        for name, rows_, heap, toast, index, total in rows
    }
    sizes["database"] = {"total_bytes": database}
    return sizes


def server_settings(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:

        def show(name: str) -> str:
            return conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]

        out = {
            name: show(name)
            for name in (
                "server_version",
                "shared_buffers",
                "work_mem",
                "effective_cache_size",
                "max_parallel_workers_per_gather",
                "jit",
                "random_page_cost",
            )
        }
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        out["pgvector"] = row[0] if row else None
    return out


# ----------------------------------------------------------------------------------------- the cases


@dataclass
class Case:
    name: str
    user: str  # "manager" | "admin"
    path: str
    params: Callable[[int], dict[str, Any]]  # iteration -> query parameters
    stream: bool = False
    repeats: int | None = None  # None: --repeats

    @property
    def targeted(self) -> bool:
        return self.name.startswith(TARGETED)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def choose_terms(url: str, conversations: int, seed: int) -> dict[str, dict[str, Any]]:
    """A common and a rare search word, by document frequency in a transcript sample, checked in SQL."""
    every = max(1, conversations // 3000)
    with psycopg.connect(url) as conn:
        docs = [
            row[0]
            for row in conn.execute(
                "SELECT string_agg(text, ' ') FROM conversations_turn WHERE conversation_id %% %s = %s "
                "GROUP BY conversation_id",
                [every, seed % every],
            )
        ]
        df = Counter()
        for doc in docs:
            df.update(set(WORD.findall(doc.lower())) - STOPWORDS)
        total = conn.execute("SELECT count(*) FROM coaching_conversationsummary").fetchone()[0]
        chosen = {}
        for label, share in (("common", 0.25), ("rare", 0.003)):
            ranked = sorted(df, key=lambda w: (abs(math.log((df[w] + 0.5) / len(docs) / share)), w))[:8]
            best = None
            for word in ranked:
                matches = conn.execute(
                    "SELECT count(*) FROM coaching_conversationsummary "
                    "WHERE search_document @@ websearch_to_tsquery('english', %s)",
                    [word],
                ).fetchone()[0]
                if not matches:
                    continue
                error = abs(math.log(matches / total / share))
                if best is None or error < best[0]:
                    best = (error, word, matches)
            if best is None:
                raise SystemExit(f"no {label} search term found in the data")
            chosen[label] = {"term": best[1], "matches": best[2], "share": round(best[2] / total, 5)}
    return chosen


def like_references(team_id: int) -> list[int]:
    """10 won conversations of the team with an embedding, spread over the year (deterministic)."""
    from conversations.models import Conversation

    ids = list(
        Conversation.objects.filter(team_id=team_id, status="won", summary__embedding__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not ids:
        raise SystemExit("no won conversation with an embedding to search like")
    return [ids[(k * len(ids)) // 10] for k in range(min(10, len(ids)))]


def make_cases(
    terms: dict[str, dict[str, Any]], slug: str, references: list[int], today: dt.date
) -> list[Case]:
    def fixed(**params: Any) -> Callable[[int], dict[str, Any]]:
        return lambda _i: params

    def like(**params: Any) -> Callable[[int], dict[str, Any]]:
        return lambda i: {"like": references[i % len(references)], **params}

    common, rare = terms["common"]["term"], terms["rare"]["term"]
    year = (today - dt.timedelta(days=364)).isoformat()
    days30 = (today - dt.timedelta(days=29)).isoformat()
    overview, libr, wall, export = (
        "/api/v1/dashboard/overview/",
        "/api/v1/library/",
        "/api/v1/live-wall/",
        "/api/v1/library/export/",
    )
    team30 = {"team": slug, "started_after": days30}
    return [
        Case("overview.manager.12w", "manager", overview, fixed()),
        Case("overview.admin.12w", "admin", overview, fixed()),
        Case("overview.admin.year", "admin", overview, fixed(started_after=year)),
        Case("library.manager.newest", "manager", libr, fixed()),
        Case("library.admin.newest", "admin", libr, fixed()),
        Case("library.admin.page100", "admin", libr, fixed(page=100)),
        Case("library.admin.lost_high_lost", "admin", libr, fixed(outcome="lost", shape="high_lost")),
        Case("search.manager.common.relevance", "manager", libr, fixed(q=common)),
        Case("search.admin.common.relevance", "admin", libr, fixed(q=common)),
        Case("search.admin.common.newest", "admin", libr, fixed(q=common, sort="newest")),
        Case("search.admin.rare.relevance", "admin", libr, fixed(q=rare)),
        Case("search.admin.rare.newest", "admin", libr, fixed(q=rare, sort="newest")),
        Case("like.manager", "manager", libr, like()),
        Case("like.admin", "admin", libr, like()),
        Case("like.admin.won", "admin", libr, like(outcome="won")),
        Case("wall.manager", "manager", wall, fixed()),
        Case("wall.admin", "admin", wall, fixed()),
        Case("export.csv.team30d", "manager", export, fixed(**team30, format="csv"), stream=True),
        Case("export.turns.csv.team30d", "manager", export, fixed(**team30, format="turns.csv"), stream=True),
        Case("export.jsonl.team30d", "manager", export, fixed(**team30, format="jsonl"), stream=True),
        Case("export.csv.admin_all", "admin", export, fixed(format="csv"), stream=True, repeats=-1),
        Case(
            "export.turns.csv.admin30d",
            "admin",
            export,
            fixed(started_after=days30, format="turns.csv"),
            stream=True,
            repeats=-1,
        ),
        Case(
            "export.jsonl.admin30d",
            "admin",
            export,
            fixed(started_after=days30, format="jsonl"),
            stream=True,
            repeats=-1,
        ),
    ]


@dataclass
class Run:
    ms: float
    ttfb_ms: float | None = None
    bytes: int = 0
    rows: int | None = None
    count: int | None = None  # the library's count
    count_capped: bool = False  # the library said "count+" (coaching.library.COUNT_CAP)
    ids: list[int] = field(default_factory=list)  # the library page's conversations, in order


def request(client: Any, case: Case, iteration: int) -> Run:
    url = case.path + "?" + urlencode(case.params(iteration)) if case.params(iteration) else case.path
    started = time.perf_counter()
    response = client.get(url)
    if response.status_code != 200:
        body = b"".join(response.streaming_content) if case.stream else response.content
        raise SystemExit(f"{case.name}: {url} answered {response.status_code}: {body[:500]!r}")
    if not case.stream:
        elapsed = (time.perf_counter() - started) * 1000
        data = json.loads(response.content)
        count = data.get("count") if isinstance(data, dict) else None
        if count is None and isinstance(data, dict) and "conversations" in data:
            count = len(data["conversations"])
        ids = [r["id"] for r in data.get("results", [])] if isinstance(data, dict) else []
        capped = bool(data.get("count_capped")) if isinstance(data, dict) else False
        return Run(elapsed, bytes=len(response.content), count=count, count_capped=capped, ids=ids)
    ttfb = None
    size = lines = 0
    for part in response.streaming_content:
        if ttfb is None:
            ttfb = (time.perf_counter() - started) * 1000
        size += len(part)
        lines += part.count(b"\n")
    elapsed = (time.perf_counter() - started) * 1000
    rows = lines - 1 if case.params(iteration).get("format") != "jsonl" else lines
    return Run(elapsed, ttfb_ms=ttfb, bytes=size, rows=rows)


def capture(client: Any, case: Case) -> tuple[Run, list[dict[str, Any]]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        run = request(client, case, 0)
    return run, [{"sql": q["sql"], "ms": float(q["time"]) * 1000} for q in queries.captured_queries]


def measure(case: Case, client: Any, args: argparse.Namespace) -> dict[str, Any]:
    repeats = (
        case.repeats if case.repeats is not None else (args.export_repeats if case.stream else args.repeats)
    )
    if repeats == -1:
        repeats = args.big_repeats
    # Streams: one warm-up run (none for the big ones: the captured run warms them up).
    warmup = args.warmup if not case.stream else (1 if case.repeats is None else 0)
    for i in range(warmup):
        request(client, case, i)
    captured, queries = capture(client, case)
    runs = [request(client, case, i) for i in range(repeats)]
    ms = [r.ms for r in runs]
    result: dict[str, Any] = {
        "user": case.user,
        "path": case.path,
        "params": {k: str(v) for k, v in case.params(0).items()},
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "queries": len(queries),
        "sql_ms": round(sum(q["ms"] for q in queries), 1),
        "slowest_query_ms": round(max((q["ms"] for q in queries), default=0.0), 1),
        "bytes": captured.bytes,
    }
    if captured.count is not None:
        result["count"] = captured.count
        result["count_capped"] = captured.count_capped
    if case.stream:
        ttfb = [r.ttfb_ms for r in runs if r.ttfb_ms is not None]
        result["ttfb_p50_ms"] = round(statistics.median(ttfb), 1)
        result["rows"] = captured.rows
        result["rows_per_s"] = round(captured.rows / (statistics.median(ms) / 1000)) if captured.rows else 0
    if case.targeted:
        result["target_p95_ms"] = TARGET_P95_MS
        result["met"] = result["p95_ms"] <= TARGET_P95_MS
    result["_queries"] = queries
    result["_ids"] = captured.ids
    return result


def explain(sql_text: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text)
        return [row[0] for row in cursor.fetchall()]


def shorten(sql_text: str, limit: int = 220) -> str:
    text = re.sub(r"'\[[-0-9.e, ]{200,}\]'", "'[...384 floats...]'", sql_text)
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------ prototypes


OVERVIEW_COLUMNS = (
    "mid_probability, last_probability, talk_ratio, question_rate, longest_monologue, turn_count"
)


@dataclass
class Prototype:
    """A candidate index or storage setting, tried in the scratch database on the cases it is for (name
    prefixes), then undone (`drop`). Not a migration: a proposal with its measured effect."""

    name: str
    proposal: str
    cases: tuple[str, ...]
    create: list[str]
    drop: list[str]


def toast_target() -> str | None:
    """The summary table's toast_tuple_target reloption (migration coaching 0003 sets it), or None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'coaching_conversationsummary'")
        options = cursor.fetchone()[0] or []
    return next((o.split("=", 1)[1] for o in options if o.startswith("toast_tuple_target=")), None)


def prototypes(current_toast_target: str | None) -> list[Prototype]:
    summary = "coaching_conversationsummary"
    restore = (
        f"ALTER TABLE {summary} SET (toast_tuple_target = {current_toast_target})"
        if current_toast_target
        else f"ALTER TABLE {summary} RESET (toast_tuple_target)"
    )
    found = [
        Prototype(
            "summary_covering",
            "a covering index of the columns the overview aggregates: its grouped scan reads a narrow "
            "index (index-only scan) instead of the summary heap",
            ("overview.",),
            create=[
                f"CREATE INDEX bench_summary_overview ON {summary} (conversation_id) "
                f"INCLUDE ({OVERVIEW_COLUMNS})",
                f"VACUUM (ANALYZE) {summary}",
            ],
            drop=["DROP INDEX IF EXISTS bench_summary_overview"],
        )
    ]
    if current_toast_target != "512":
        found.append(
            Prototype(
                "toast_target_512",
                f"toast_tuple_target = 512 instead of {current_toast_target or 'the default'}: a row over "
                "2 kB still moves its embedding and tsvector out of line, but keeps the short columns "
                "(embedder, trajectory) inline, which a target of 128 moves to TOAST too (the rows are "
                "rewritten with VACUUM FULL, and again when it is restored)",
                ("overview.", "library.", "search.", "like.", "wall."),
                create=[
                    f"ALTER TABLE {summary} SET (toast_tuple_target = 512)",
                    f"VACUUM (FULL, ANALYZE) {summary}",
                ],
                drop=[restore, f"VACUUM (FULL, ANALYZE) {summary}"],
            )
        )
    return found


def toast_columns() -> dict[str, int]:
    """How many summary rows keep each varlena column out of line (in TOAST)."""
    from django.db import connection

    columns = ("embedder", "trajectory", "embedding", "search_document")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT "
            + ", ".join(f"count(pg_column_toast_chunk_id({c}))" for c in columns)
            + " FROM coaching_conversationsummary"
        )
        return dict(zip(columns, cursor.fetchone(), strict=True))


# ------------------------------------------------------------------------------------------- output


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def print_results(results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n{'case':34} {'user':7} {'n':>3} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'queries':>7} "
        f"{'sql ms':>8} {'rows/count':>10}  target / stream"
    )
    for name, r in results.items():
        extra = ""
        if "met" in r:
            extra = ("met" if r["met"] else "MISSED") + f" (p95 <= {TARGET_P95_MS:.0f})"
        if "ttfb_p50_ms" in r:
            extra = (
                f"ttfb {fmt_ms(r['ttfb_p50_ms'])} ms, {r['bytes'] / 1e6:,.2f} MB, {r['rows_per_s']:,} rows/s"
            )
        rows = r.get("rows", r.get("count"))
        shown = "" if rows is None else f"{rows:,}" + ("+" if r.get("count_capped") else "")
        print(
            f"{name:34} {r['user']:7} {r['n']:>3} {fmt_ms(r['p50_ms']):>9} {fmt_ms(r['p95_ms']):>9} "
            f"{fmt_ms(r['max_ms']):>9} {r['queries']:>7} {fmt_ms(r['sql_ms']):>8} "
            f"{shown:>10}  {extra}"
        )


def print_sizes(sizes: dict[str, dict[str, int]]) -> None:
    mb = 2**20
    print(f"\n{'table':30} {'rows':>12} {'heap MB':>9} {'TOAST MB':>9} {'index MB':>9} {'total MB':>9}")
    for name, s in sizes.items():
        if name == "database":
            continue
        print(
            f"{name:30} {s['rows']:>12,} {s['heap_bytes'] / mb:>9,.1f} {s['toast_bytes'] / mb:>9,.1f} "
            f"{s['index_bytes'] / mb:>9,.1f} {s['total_bytes'] / mb:>9,.1f}"
        )
    print(f"{'database':30} {'':>12} {'':>9} {'':>9} {'':>9} {sizes['database']['total_bytes'] / mb:>9,.1f}")


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--conversations", type=int, default=100_000, help="conversations to seed (default 100000)"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before each case (default 3)")
    parser.add_argument(
        "--export-repeats", type=int, default=10, help="timed runs of the team exports (default 10)"
    )
    parser.add_argument(
        "--big-repeats", type=int, default=2, help="timed runs of the big exports (default 2; 0 skips them)"
    )
    parser.add_argument(
        "--cases", default="", help="only cases whose name starts with one of these comma-separated prefixes"
    )
    parser.add_argument(
        "--common-term", default="", help="the common full-text term (default: from the data)"
    )
    parser.add_argument("--rare-term", default="", help="the rare full-text term (default: from the data)")
    parser.add_argument(
        "--prototypes",
        choices=("auto", "all", "off"),
        default="auto",
        help="try candidate indexes: for cases that missed the target (auto), always (all), never (off)",
    )
    parser.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE of missed cases")
    parser.add_argument("--seed", type=int, default=20240606, help="seed of the generated data")
    parser.add_argument("--chunk", type=int, default=2000, help="conversations per COPY batch (default 2000)")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help=f"scratch database name (default {DATABASE}; must start salesrl_bench)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the seeded database for reruns")
    parser.add_argument("--reseed", action="store_true", help="drop and reseed even if the database matches")
    args = parser.parse_args(argv)
    if not args.database.startswith("salesrl_bench"):
        parser.error("--database must start with salesrl_bench (a scratch database of this benchmark)")
    if args.conversations < 100:
        parser.error("--conversations must be at least 100")
    started = time.perf_counter()
    code_before = code_version()

    config = Config.from_env()
    admin_url, url = database_urls(config, args.database)
    meta = None if args.reseed else read_meta(url)
    wanted = {"format": META_FORMAT, "conversations": args.conversations, "seed": args.seed}
    reused = meta is not None and all(meta.get(k) == v for k, v in wanted.items())
    if not reused:
        drop_database(admin_url, args.database)
        ensure_database(admin_url, args.database)
    else:
        log(f"reusing {args.database}: seeded {meta['seeded_at']} with {meta['rows']}")
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(meta["seeded_at"])
        if age > dt.timedelta(days=1):
            log(f"note: seeded {age.days} days ago, so 'the last 12 weeks' hold a little less data")
    setup_django(url)
    migrate_s = migrate()
    log(f"migrations: {migrate_s:.1f} s")
    if not reused:
        meta = seed(url, args)
    assert meta is not None
    sizes = table_sizes(url)
    pg_settings = server_settings(url)
    print_sizes(sizes)
    toasted = toast_columns()
    print(
        f"summary rows with a column in TOAST (of {args.conversations:,}): "
        + ", ".join(f"{column} {n:,}" for column, n in toasted.items())
        + f"; toast_tuple_target {toast_target() or 'default'}"
    )
    print(f"seeding: {json.dumps(meta['seconds'])}" + (" (reused database)" if reused else ""))

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    people = load_people()
    User = get_user_model()
    clients = {}
    for role, user_id in (("manager", people.managers[0]), ("admin", people.admin_id)):
        client = Client(HTTP_HOST="localhost")
        client.force_login(User.objects.get(pk=user_id))
        clients[role] = client
    terms = choose_terms(url, args.conversations, args.seed)
    for label, override in (("common", args.common_term), ("rare", args.rare_term)):
        if override:
            terms[label] = {"term": override, "matches": None, "share": None}
    log(f"search terms: {terms}")
    references = like_references(people.team_ids[0])
    cases = make_cases(terms, people.team_slugs[0], references, timezone.localdate())
    prefixes = [p for p in args.cases.split(",") if p]
    cases = [c for c in cases if not prefixes or c.name.startswith(tuple(prefixes))]
    if args.big_repeats == 0:
        cases = [c for c in cases if c.repeats != -1]
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        results[case.name] = measure(case, clients[case.user], args)
        r = results[case.name]
        log(f"{case.name}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, {r['queries']} queries")
    load_after = os.getloadavg()[0]
    print_results(results)

    missed = [name for name, r in results.items() if r.get("met") is False]
    plans: dict[str, list[dict[str, Any]]] = {}
    if missed and not args.no_explain:
        print(
            "\nEXPLAIN (ANALYZE, BUFFERS) of the slowest queries of the cases that missed: "
            + ", ".join(missed)
        )
        for name in missed:
            slowest = sorted(results[name]["_queries"], key=lambda q: -q["ms"])[:2]
            plans[name] = []
            for query in slowest:
                plan = explain(query["sql"])
                plans[name].append(
                    {"sql": shorten(query["sql"], 2000), "ms": round(query["ms"], 1), "plan": plan}
                )
                print(f"\n--- {name}: {query['ms']:.1f} ms: {shorten(query['sql'])}")
                for line in plan[:40]:
                    print("    " + line)

    tried: dict[str, Any] = {}
    if args.prototypes != "off" and (missed or args.prototypes == "all"):
        tried = try_prototypes(cases, clients, results, missed, args, toast_target())

    from django.db import connections

    connections.close_all()
    if not args.keep:
        drop_database(admin_url, args.database)
        log(f"dropped {args.database} (use --keep to keep it for reruns)")

    targeted = {name: r["met"] for name, r in results.items() if "met" in r}
    print(
        f"\ntarget p95 <= {TARGET_P95_MS:.0f} ms (overview and searches): "
        + (
            "met by every case"
            if all(targeted.values())
            else "MISSED by " + ", ".join(n for n, ok in targeted.items() if not ok)
        )
    )
    for r in results.values():
        r.pop("_queries", None)
        r.pop("_ids", None)
    print(
        json.dumps(
            {
                "benchmark": "team_views",
                "conversations": args.conversations,
                "seed": args.seed,
                "database": args.database,
                "reused_database": reused,
                "seeding": meta,
                "migrate_s": round(migrate_s, 1),
                "sizes": sizes,
                "summary_rows_in_toast": toasted,
                "code": {"before": code_before, "after": code_version()},
                "search_terms": terms,
                "like_references": references,
                "cases": results,
                "target_p95_ms": TARGET_P95_MS,
                "targets_met": targeted,
                "all_targets_met": all(targeted.values()),
                "explain": plans,
                "prototypes": tried,
                "settings": {
                    "repeats": args.repeats,
                    "warmup": args.warmup,
                    "export_repeats": args.export_repeats,
                    "big_repeats": args.big_repeats,
                    **pg_settings,
                },
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_avg_1m_before": round(load_before, 2),
                    "load_avg_1m_after": round(load_after, 2),
                },
                "total_s": round(time.perf_counter() - started, 1),
            }
        )
    )
    return 0


def try_prototypes(
    cases: list[Case],
    clients: dict[str, Any],
    results: dict[str, dict[str, Any]],
    missed: list[str],
    args: argparse.Namespace,
    current_toast_target: str | None,
) -> dict[str, Any]:
    """Measure each prototype on its cases (the missed ones, or all of them with --prototypes all)."""
    from django.db import connection

    out: dict[str, Any] = {}
    for proto in prototypes(current_toast_target):
        names = [
            c.name
            for c in cases
            if c.name.startswith(proto.cases) and (args.prototypes == "all" or c.name in missed)
        ]
        if not names:
            continue
        log(f"prototype {proto.name}: building")
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for statement in proto.create:
                cursor.execute(statement)
            cursor.execute("RESET maintenance_work_mem")
        entry: dict[str, Any] = {
            "proposal": proto.proposal,
            "sql": proto.create,
            "build_s": round(time.perf_counter() - t0, 1),
            "cases": {},
        }
        try:
            for case in cases:
                if case.name not in names:
                    continue
                after = measure(case, clients[case.user], args)
                queries = after.pop("_queries")
                ids = after.pop("_ids")
                before = results[case.name]
                entry["cases"][case.name] = {
                    "before": {k: before[k] for k in ("p50_ms", "p95_ms", "max_ms", "queries", "sql_ms")},
                    "after": {k: after[k] for k in ("p50_ms", "p95_ms", "max_ms", "queries", "sql_ms")},
                    "met_after": after["p95_ms"] <= TARGET_P95_MS if case.targeted else None,
                    # Share of the first page (the captured request) that is the same as before.
                    "same_page_share": (
                        round(len(set(ids) & set(before["_ids"])) / len(before["_ids"]), 3)
                        if before["_ids"]
                        else None
                    ),
                    "slowest_query_after": shorten(max(queries, key=lambda q: q["ms"])["sql"]),
                }
                log(f"  {proto.name} {case.name}: p95 {before['p95_ms']} -> {after['p95_ms']} ms")
        finally:
            with connection.cursor() as cursor:
                for statement in proto.drop:
                    cursor.execute(statement)
        out[proto.name] = entry
    if out:
        print("\nprototypes (built in the scratch database, measured with full requests, then undone)")
        for name, entry in out.items():
            print(f"  {name} (built in {entry['build_s']} s): {entry['proposal']}")
            for statement in entry["sql"]:
                print(f"      {statement}")
            for case, c in entry["cases"].items():
                b, a = c["before"], c["after"]
                print(
                    f"    {case:34} p50 {fmt_ms(b['p50_ms']):>8} -> {fmt_ms(a['p50_ms']):>8}   "
                    f"p95 {fmt_ms(b['p95_ms']):>8} -> {fmt_ms(a['p95_ms']):>8} ms   "
                    f"sql {fmt_ms(b['sql_ms'])} -> {fmt_ms(a['sql_ms'])} ms   "
                    + {True: "met", False: "still MISSED", None: "(no target)"}[c["met_after"]]
                )
    return out


if __name__ == "__main__":
    sys.exit(main())
