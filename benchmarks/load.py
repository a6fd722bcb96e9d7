"""Load harness: N concurrent live conversations against a running SalesRL.

    ./salesrl.sh up                                                   # the stack under test
    .state/venv/bin/python benchmarks/load.py --pace human --conversations 100 --duration 120
    .state/venv/bin/python benchmarks/load.py --pace full --conversations 32 --duration 60
    .state/venv/bin/python benchmarks/load.py --pace full --conversations 100 --ingest batch --duration 60
    .state/venv/bin/python benchmarks/load.py --pace human --conversations 10 --duration 600   # soak

Every conversation is what an integration and a browser do together: the conversation is opened and
its turns are posted through the API with the demo integration's API tokens (<state>/demo_token, one
per team), while a websocket logged in as the demo admin (<state>/demo_credentials.json) is subscribed
to ws/conversations/<id>/, as the live page is. Turns come from the conversation simulator
(scoring.ml.simulator), each made unique with a short reference number so the embedding cache answers
no more than it would for real speech (--texts simulated keeps the simulator's bounded vocabulary). A
finished conversation is closed with its simulated outcome and the slot opens the next one, so N stay
live the whole run. They stay in the database as closed history (metadata {"benchmark": "load"}), and
are enrolled in running experiments like any other conversation.

Pace:
  human  each conversation posts a turn every --mean-gap seconds (uniformly jittered 0.5x..1.5x),
         whatever the server does: an open loop offering N / mean-gap turns/s. Latency at a known load.
  full   each conversation posts its next turn as soon as the previous turn's "score" push arrived
         (or --turn-timeout passed): a closed loop. Throughput is what the stack sustains with N turns
         in flight. Not an open loop at maximum rate: past saturation that only grows the Celery queue
         and the latency figures then measure the queue's length, not the system.

Ingest (either pace):
  turn   every turn is its own POST /api/v1/conversations/<id>/turns/, as a chat widget posts them.
  batch  a telephony/dialer integration streaming many live calls of a team: each team's turns are
         queued and flushed together to POST /api/v1/turns/ every --flush-ms ms (at once when
         --batch-max are waiting), with the team's token. A flush does not wait for the previous
         request's answer; a conversation still has at most one turn in flight, so its turns stay in
         order. A turn's latency counts from its hand-over to the batcher, the wait for the flush
         included; its status is its own item's in the response (or the request's when the whole
         request failed). The summary adds the batches: how many, turns per batch, request statuses.

Reported: latency from the start of each turn's POST to the websocket's "turn" push (web process),
"score" push (worker), "confidence" and "guidance" pushes (their own worker tasks; guidance is not
computed for conversations in an experiment arm without guidance, nor once a conversation is closed)
as p50/p95/p99/max; turns posted/s and scored/s; errors (HTTP status of every post, websocket connect
failures and disconnects, scores later than --turn-timeout, turns without a score push at the end and,
of those, turns with no stored score at all); resident memory (RSS, with children) of the web and
worker processes found from the pid files in <state>/run, sampled every --sample-every seconds, with
the growth from the first third's median to the last third's and a slope; CPU used by web, worker,
PostgreSQL (the whole server), Redis and this harness, also per scored turn (steadier than throughput
on a shared machine); the most connections to PostgreSQL the web and worker processes held at once.
Only turns started after --warmup count. Progress goes to stderr; the last line of stdout is one JSON
object.

Other layouts, for the run only, without touching the stack: --add-workers N (with
--worker-concurrency and --worker-queues) and --add-web N start extra Celery workers and daphne
processes, stopped at the end; --pause-worker salesrl@$(hostname) makes the stack's worker stop
consuming meanwhile, so only the added workers are measured. The HTTP client is httpx2 (installed with
the openai client), the websocket client `websockets` (the dev extra).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import numpy as np
import psutil
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salesrl.stack import Config, web_argv, worker_argv  # noqa: E402  (Django-free)
from scoring.ml.simulator import MixedPolicy, simulate_conversation  # noqa: E402  (Django-free)

# The demo organisation (conversations.demo.TEAMS, which imports Django): team slug -> its reps.
DEMO_REPS = {"inside-sales": ["rita", "raj"], "field-sales": ["sam", "sofia"], "smb": ["tom", "tara"]}
PUSHES = ("turn", "score", "confidence", "guidance")
TARGET_SCORE_P99_MS = 100.0
TARGET_SCORED_PER_S = 300.0
BATCH_PATH = "/api/v1/turns/"
BATCH_LIMIT = 500  # items the batch endpoint accepts in one request
BAD_BATCH_RESPONSE = "BadBatchResponse"  # an item's status when the 2xx answer does not account for it


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 1),
    }


# --- What is posted ---------------------------------------------------------------------------------


def read_tokens(path: Path) -> dict[str, str]:
    """{team slug: API key}: the demo token file holds one key per team (tokens are team-scoped); an
    older one holds a single key for every team ("*")."""
    try:
        raw = path.read_text().strip()
    except OSError:
        raise SystemExit(f"{path} not found: run ./salesrl.sh up first, or pass --token-file") from None
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    if isinstance(parsed, dict):
        return {str(k): str(v) for k, v in parsed.items()}
    return {"*": str(parsed)}


def parse_reps(spec: str | None) -> list[tuple[str, str]]:
    """(team, rep) pairs the conversations are spread over: "team:rep,team:rep", or the demo's."""
    if not spec:
        return [(team, rep) for team, reps in DEMO_REPS.items() for rep in reps]
    pairs = []
    for item in spec.split(","):
        team, _, rep = item.strip().partition(":")
        if not team or not rep:
            raise SystemExit(f"--reps wants team:rep pairs, got {item!r}")
        pairs.append((team, rep))
    return pairs


def conversation_scripts(seed: int, unique: bool) -> Iterator[dict[str, Any]]:
    """Simulated conversations, endlessly; with `unique`, every turn text ends in its own number."""
    policy = MixedPolicy()
    # k -> 10M + (offset + 7919 k) mod 90M is one-to-one (7919 is prime to 90M): distinct, random-looking.
    offset = random.Random(seed).randrange(90_000_000)
    serial = itertools.count()
    for i in itertools.count():
        record = simulate_conversation(
            np.random.default_rng([seed, i]), conversation_id=f"load-{seed}-{i}", policy=policy
        )
        if unique:
            for turn in record["turns"]:
                number = 10_000_000 + (offset + 7919 * next(serial)) % 90_000_000
                turn["text"] = f"{turn['text']} (#{number})"
        yield record


# --- Measurements -----------------------------------------------------------------------------------


@dataclass
class TurnRecord:
    conversation_id: int
    index: int
    started: float  # time.monotonic() when the POST began
    measured: bool  # started after the warm-up, before the end
    posted: float | None = None
    status: str = ""  # HTTP status, or the exception's name
    pushes: dict[str, float] = field(default_factory=dict)  # push type -> arrival time
    scored: asyncio.Event = field(default_factory=asyncio.Event)
    score_seen_in_snapshot: bool = False


@dataclass
class BatchRecord:
    started: float  # time.monotonic() when the request was sent
    turns: int
    status: str  # the request's HTTP status, or the exception's name
    elapsed: float  # seconds until the response (or the failure)
    reason: str  # what flushed it: "tick", "full" (--batch-max waiting) or "stop" (the end of the run)


@dataclass
class Stats:
    started: float
    warmup: float
    duration: float
    records: dict[tuple[int, int], TurnRecord] = field(default_factory=dict)
    create_status: Counter[str] = field(default_factory=Counter)
    close_status: Counter[str] = field(default_factory=Counter)
    ws_connect_failures: Counter[str] = field(default_factory=Counter)
    ws_disconnects: int = 0
    scorer_versions: Counter[str] = field(default_factory=Counter)
    conversations_opened: int = 0
    conversations_finished: int = 0
    loop_lag_ms: list[float] = field(default_factory=list)
    batches: list[BatchRecord] = field(default_factory=list)  # --ingest batch: every request

    def in_window(self, t: float) -> bool:
        return self.warmup <= t - self.started <= self.duration


class Sessions:
    """HTTP clients (one per web URL) and the admin's session cookie for the websockets."""

    def __init__(self, urls: list[str], tokens: dict[str, str], conversations: int, timeout: float) -> None:
        limits = httpx2.Limits(max_connections=conversations + 8, max_keepalive_connections=conversations + 8)
        self.urls = urls
        self.tokens = tokens
        self.clients = [
            httpx2.AsyncClient(base_url=url, limits=limits, timeout=timeout, trust_env=False) for url in urls
        ]
        self.session_cookie = ""

    def token(self, team: str) -> str:
        key = self.tokens.get(team) or self.tokens.get("*")
        if not key:
            raise SystemExit(f"no API token for team {team!r} in the token file")
        return key

    async def log_in(self, username: str, password: str) -> None:
        """Sign in once for the websockets; the session lives in the database, so every web process
        accepts it. The API clients stay without cookies: an integration has only its token."""
        async with httpx2.AsyncClient(base_url=self.urls[0], timeout=30, trust_env=False) as browser:
            await browser.get("/login/")
            csrf = browser.cookies.get("csrftoken", "")
            response = await browser.post(
                "/login/",
                data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
                headers={"Referer": self.urls[0] + "/login/"},
            )
            self.session_cookie = browser.cookies.get("sessionid", "")
        if response.status_code >= 400 or not self.session_cookie:
            raise SystemExit(f"could not log in as {username} (HTTP {response.status_code})")

    async def post(self, slot: int, team: str, path: str, body: dict[str, Any]) -> httpx2.Response:
        client = self.clients[slot % len(self.clients)]
        return await client.post(path, json=body, headers={"Authorization": f"Bearer {self.token(team)}"})

    async def get(self, slot: int, team: str, path: str) -> httpx2.Response:
        client = self.clients[slot % len(self.clients)]
        return await client.get(path, headers={"Authorization": f"Bearer {self.token(team)}"})

    def ws_url(self, slot: int, conversation_id: int) -> tuple[str, dict[str, str]]:
        # The websocket goes to another web process than the posts when there are several: the channel
        # layer (Redis) carries the pushes between them.
        base = self.urls[(slot + 1) % len(self.urls)] if len(self.urls) > 1 else self.urls[0]
        headers = {"Cookie": f"sessionid={self.session_cookie}", "Origin": base}
        return base.replace("http", "ws", 1) + f"/ws/conversations/{conversation_id}/", headers

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


def status_of(exc: BaseException) -> str:
    return type(exc).__name__


def item_statuses(response: httpx2.Response, conversations: list[int]) -> list[str]:
    """Each item's status from a batch response, in the request's order: the request's own status for
    every item when the whole request failed."""
    if not response.is_success:
        return [str(response.status_code)] * len(conversations)
    try:
        results = response.json()["results"]
    except (ValueError, KeyError, TypeError):
        results = None
    # Results pair with items by position only: if their count differs, no pairing can be trusted.
    if not isinstance(results, list) or len(results) != len(conversations):
        return [BAD_BATCH_RESPONSE] * len(conversations)
    statuses = []
    for result, conversation_id in zip(results, conversations, strict=True):
        status = result.get("status") if isinstance(result, dict) else None
        # A result naming another conversation means the order broke: a 201 there is not this turn's.
        if not isinstance(status, int) or str(result.get("conversation")) != str(conversation_id):
            statuses.append(BAD_BATCH_RESPONSE)
        else:
            statuses.append(str(status))
    return statuses


# A queued turn: the batch item, and the future its conversation awaits (its status, the response's time).
Pending = tuple[dict[str, Any], "asyncio.Future[tuple[str, float]]"]


class TurnBatcher:
    """One team's turns on their way to the batch endpoint (--ingest batch), as a dialer integration
    streams them: queued with a future each, flushed on a fixed tick every `flush_s` seconds, or at
    once when `batch_max` are waiting, in one request with the team's token."""

    def __init__(
        self, team: str, sessions: Sessions, stats: Stats, flush_s: float, batch_max: int, first_client: int
    ) -> None:
        self.team = team
        self.sessions = sessions
        self.stats = stats
        self.flush_s = flush_s
        self.batch_max = batch_max
        # Requests go round the web processes (--url, --add-web) as the per-turn posts go round the slots;
        # teams start at different ones so that a single-item batch from each does not pile on the first.
        self.rotation = itertools.count(first_client)
        self.queue: list[Pending] = []
        self.wake = asyncio.Event()  # something was queued, a batch filled up, or the run is ending
        self.closing = False
        self.origin = time.monotonic()  # the ticks are origin + k * flush_s
        self.in_flight: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def submit(self, item: dict[str, Any]) -> tuple[str, float]:
        """Queue one turn and wait for its answer: (its status, when the response arrived)."""
        if self.closing:  # not expected: no turn starts once the run is stopping
            return "BatcherStopped", time.monotonic()
        future: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        self.queue.append((item, future))
        if len(self.queue) == 1 or len(self.queue) >= self.batch_max:
            self.wake.set()
        return await future

    async def stop(self) -> None:
        """Flush what is queued, wait for the requests still on their way, then end."""
        self.closing = True
        self.wake.set()
        if self.task is not None:
            await self.task

    def next_tick(self) -> float:
        now = time.monotonic()
        if self.flush_s <= 0:
            return now
        return self.origin + math.ceil((now - self.origin) / self.flush_s) * self.flush_s

    async def run(self) -> None:
        while True:
            self.wake.clear()
            if not self.queue:
                if self.closing:
                    break
                # Idle: no wake-up every tick, only when a turn arrives (it then waits for the next tick).
                await self.wake.wait()
                continue
            reason = "stop" if self.closing else "full" if len(self.queue) >= self.batch_max else "tick"
            if reason == "tick":
                delay = self.next_tick() - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=delay)
                    if self.closing or len(self.queue) >= self.batch_max:
                        continue  # woken early: flush for that reason instead
            self.flush(reason)
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    def flush(self, reason: str) -> None:
        """Send the queue as requests of at most batch_max items; on a "full" flush only full ones (the
        rest waits for the tick)."""
        while self.queue and (reason != "full" or len(self.queue) >= self.batch_max):
            batch, self.queue = self.queue[: self.batch_max], self.queue[self.batch_max :]
            batch = [(item, future) for item, future in batch if not future.done()]  # cancelled meanwhile
            if not batch:
                continue
            # Not awaited: a slow answer must not hold back the other calls' turns, as with a dialer.
            task = asyncio.create_task(self.post(batch, reason))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def post(self, batch: list[Pending], reason: str) -> None:
        sent = time.monotonic()
        conversations = [item["conversation"] for item, _ in batch]
        try:
            response = await self.sessions.post(
                next(self.rotation), self.team, BATCH_PATH, {"turns": [item for item, _ in batch]}
            )
            request_status = str(response.status_code)
            statuses = item_statuses(response, conversations)
        except Exception as exc:  # whatever it is, no conversation may be left waiting for its answer
            request_status = status_of(exc)
            statuses = [request_status] * len(batch)
        arrived = time.monotonic()
        self.stats.batches.append(BatchRecord(sent, len(batch), request_status, arrived - sent, reason))
        for (_, future), status in zip(batch, statuses, strict=True):
            if not future.done():
                future.set_result((status, arrived))


class Load:
    def __init__(self, args: argparse.Namespace, sessions: Sessions, stats: Stats) -> None:
        self.args = args
        self.sessions = sessions
        self.stats = stats
        self.reps = parse_reps(args.reps)
        self.scripts = conversation_scripts(args.seed, unique=args.texts == "unique")
        self.rng = random.Random(args.seed)
        self.stopping = asyncio.Event()
        self.open_conversations: dict[int, tuple[int, str, bool]] = {}  # id -> (slot, team, converted)
        self.teams: dict[int, str] = {}  # every conversation opened -> its team (whose token reads it)
        self.sockets: dict[int, Any] = {}  # conversation id -> its current websocket
        self.run_id = f"{time.time_ns():x}"  # external ids stay new even when --seed repeats a run
        self.batchers: dict[str, TurnBatcher] = {}  # --ingest batch: team -> its batcher

    def batcher(self, team: str) -> TurnBatcher:
        """The team's batcher, started with its first turn (a batch carries one team's token)."""
        batcher = self.batchers.get(team)
        if batcher is None:
            batcher = TurnBatcher(
                team,
                self.sessions,
                self.stats,
                flush_s=self.args.flush_ms / 1000,
                batch_max=self.args.batch_max,
                first_client=len(self.batchers),
            )
            self.batchers[team] = batcher
            batcher.start()
        return batcher

    async def stop_batchers(self) -> None:
        await asyncio.gather(*(batcher.stop() for batcher in self.batchers.values()))

    # One slot keeps one conversation live at all times: the next one opens when the last one closes.
    async def slot(self, slot: int) -> None:
        stagger = self.args.mean_gap if self.args.pace == "human" else 1.0
        await asyncio.sleep(stagger * slot / max(self.args.conversations, 1))
        while not self.stopping.is_set():
            script = next(self.scripts)
            team, rep = self.reps[self.rng.randrange(len(self.reps))]
            try:
                await self.conversation(slot, team, rep, script)
            except Exception as exc:  # one conversation's failure must not end the slot
                self.stats.create_status[f"unexpected {status_of(exc)}"] += 1
                await asyncio.sleep(1)

    async def conversation(self, slot: int, team: str, rep: str, script: dict[str, Any]) -> None:
        stats = self.stats
        try:
            response = await self.sessions.post(
                slot,
                team,
                "/api/v1/conversations/",
                {
                    "team": team,
                    "rep": rep,
                    "external_id": f"{script['id']}-{self.run_id}",
                    "channel": script["meta"].get("channel", "chat"),
                    "industry": script["meta"].get("industry", "")[:80],
                    "metadata": {"benchmark": "load"},
                },
            )
            stats.create_status[str(response.status_code)] += 1
            if response.status_code not in (200, 201):
                await asyncio.sleep(1)
                return
            conversation_id = int(response.json()["id"])
        except httpx2.HTTPError as exc:
            stats.create_status[status_of(exc)] += 1
            await asyncio.sleep(1)
            return
        stats.conversations_opened += 1
        self.open_conversations[conversation_id] = (slot, team, bool(script["converted"]))
        self.teams[conversation_id] = team
        socket_ = await self.connect(slot, conversation_id)
        if socket_ is None:
            await self.close(conversation_id)
            return
        finished = asyncio.Event()
        reader = asyncio.create_task(self.read(slot, conversation_id, socket_, finished))
        last: TurnRecord | None = None
        try:
            for index, turn in enumerate(script["turns"]):
                if self.stopping.is_set():
                    break
                last = await self.post_turn(slot, team, conversation_id, index, turn, last)
                if last is None:  # the post failed: the conversation cannot go on in order
                    break
            if last is not None:
                await self.settle(last)
        finally:
            finished.set()
            if self.stopping.is_set():
                await self.drain(conversation_id)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            with contextlib.suppress(Exception):
                await self.sockets.pop(conversation_id).close()
            await self.close(conversation_id)
            stats.conversations_finished += 1

    async def connect(self, slot: int, conversation_id: int) -> Any:
        url, headers = self.sessions.ws_url(slot, conversation_id)
        for attempt in range(3):
            try:
                socket_ = await websockets.connect(
                    url, additional_headers=headers, open_timeout=15, max_size=None
                )
                snapshot = json.loads(await asyncio.wait_for(socket_.recv(), timeout=15))
                if snapshot.get("type") != "snapshot":
                    raise RuntimeError(f"expected a snapshot, got {snapshot.get('type')}")
                self.sockets[conversation_id] = socket_
                self.mark_from_snapshot(conversation_id, snapshot)
                return socket_
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, RuntimeError) as exc:
                self.stats.ws_connect_failures[status_of(exc)] += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        return None

    def mark_from_snapshot(self, conversation_id: int, snapshot: dict[str, Any]) -> None:
        """After a reconnect: scores stored while the socket was down were not lost, only not pushed."""
        for turn in snapshot.get("conversation", {}).get("turns", []):
            record = self.stats.records.get((conversation_id, turn["index"]))
            if record is not None and turn.get("score") and "score" not in record.pushes:
                record.score_seen_in_snapshot = True
                record.scored.set()

    async def read(self, slot: int, conversation_id: int, socket_: Any, finished: asyncio.Event) -> None:
        while True:
            try:
                raw = await socket_.recv()
            except ConnectionClosed:
                if finished.is_set():
                    return
                self.stats.ws_disconnects += 1
                socket_ = await self.connect(slot, conversation_id)
                if socket_ is None:
                    return
                continue
            arrived = time.monotonic()
            event = json.loads(raw)
            kind = event.get("type")
            if kind not in PUSHES:
                continue
            index = event["turn"]["index"] if kind == "turn" else event.get("turn_index")
            record = self.stats.records.get((conversation_id, index))
            if record is None or kind in record.pushes:
                continue
            record.pushes[kind] = arrived
            if kind == "score":
                self.stats.scorer_versions[str(event["score"].get("model_version"))] += 1
                record.scored.set()

    async def post_turn(
        self,
        slot: int,
        team: str,
        conversation_id: int,
        index: int,
        turn: dict[str, Any],
        previous: TurnRecord | None,
    ) -> TurnRecord | None:
        if previous is not None:
            if self.args.pace == "human":
                gap = self.args.mean_gap * self.rng.uniform(0.5, 1.5)
                await asyncio.sleep(max(0.0, previous.started + gap - time.monotonic()))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(previous.scored.wait(), timeout=self.args.turn_timeout)
            if self.stopping.is_set():
                return None
        started = time.monotonic()
        record = TurnRecord(conversation_id, index, started, measured=self.stats.in_window(started))
        self.stats.records[(conversation_id, index)] = record
        body = {"speaker": turn["speaker"], "text": turn["text"], "index": index}
        if self.args.ingest == "batch":
            # `started` stays the hand-over to the batcher: the latencies include the wait for the flush.
            record.status, record.posted = await self.batcher(team).submit(
                {"conversation": conversation_id, **body}
            )
            return record if record.status in ("200", "201") else None
        try:
            response = await self.sessions.post(
                slot, team, f"/api/v1/conversations/{conversation_id}/turns/", body
            )
            record.status = str(response.status_code)
        except httpx2.HTTPError as exc:
            record.status = status_of(exc)
        record.posted = time.monotonic()
        return record if record.status in ("200", "201") else None

    async def settle(self, last: TurnRecord) -> None:
        """Let the last turn's pushes arrive before the conversation closes (closing withholds guidance)."""
        deadline = last.started + self.args.turn_timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(last.scored.wait(), timeout=max(0.0, deadline - time.monotonic()))
        linger = self.args.mean_gap if self.args.pace == "human" else 2.0
        until = time.monotonic() + linger
        while "guidance" not in last.pushes and time.monotonic() < until and not self.stopping.is_set():
            await asyncio.sleep(0.05)

    async def drain(self, conversation_id: int) -> None:
        """At the end of the run: wait for the scores still on their way, up to --turn-timeout each."""
        pending = [
            r
            for (cid, _), r in self.stats.records.items()
            if cid == conversation_id and r.status in ("200", "201")
        ]
        for record in pending:
            remaining = record.started + self.args.turn_timeout - time.monotonic()
            if remaining > 0 and not record.scored.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(record.scored.wait(), timeout=remaining)

    async def close(self, conversation_id: int) -> None:
        slot, team, converted = self.open_conversations.pop(conversation_id, (0, "", False))
        try:
            response = await self.sessions.post(
                slot,
                team,
                f"/api/v1/conversations/{conversation_id}/close/",
                {"outcome": "won" if converted else "lost"},
            )
            self.stats.close_status[str(response.status_code)] += 1
        except httpx2.HTTPError as exc:
            self.stats.close_status[status_of(exc)] += 1

    async def verify_unscored(self) -> tuple[int, int]:
        """Turns posted but never pushed a score: (those with a score stored after all, those without)."""
        missing: dict[int, list[TurnRecord]] = {}
        for record in self.stats.records.values():
            if record.status in ("200", "201") and "score" not in record.pushes:
                missing.setdefault(record.conversation_id, []).append(record)
        stored = absent = 0
        for conversation_id, records in missing.items():
            try:
                response = await self.sessions.get(
                    0, self.teams.get(conversation_id, "*"), f"/api/v1/conversations/{conversation_id}/"
                )
                scored = {t["index"] for t in response.json().get("turns", []) if t.get("score")}
            except (httpx2.HTTPError, ValueError):
                scored = set()
            for record in records:
                if record.index in scored:
                    stored += 1
                else:
                    absent += 1
        return stored, absent

    async def loop_lag(self) -> None:
        while not self.stopping.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.stats.loop_lag_ms.append((time.monotonic() - before - 0.05) * 1000)


# --- Processes ----------------------------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class Sampler:
    """RSS (MB) and CPU seconds of process groups, every few seconds."""

    def __init__(self, groups: dict[str, list[int]], every: float, db_port: int | None) -> None:
        self.groups = groups
        self.every = every
        self.db_port = db_port
        self.samples: list[tuple[float, dict[str, float], dict[str, float]]] = []
        self.db_connections: dict[str, int] = {}  # group -> most connections to PostgreSQL seen at once

    def count_db_connections(self) -> None:
        for name in ("web", "worker"):
            held = 0
            for pid in self.groups.get(name, []):
                for process in tree(pid):
                    try:
                        held += sum(
                            1
                            for c in process.net_connections("tcp")
                            if c.raddr
                            and c.raddr.port == self.db_port
                            and c.status == psutil.CONN_ESTABLISHED
                        )
                    except psutil.Error:
                        continue
            self.db_connections[name] = max(held, self.db_connections.get(name, 0))

    @staticmethod
    def measure(pids: list[int], descendants: bool = True) -> tuple[float, float]:
        """RSS and CPU seconds of `pids` and (with `descendants`) their process trees, exited children
        included (PostgreSQL backends come and go; their time is kept in their parent's children_*)."""
        rss = cpu = 0.0
        for pid in pids:
            for process in tree(pid) if descendants else [psutil.Process(pid)]:
                try:
                    with process.oneshot():
                        rss += process.memory_info().rss
                        times = process.cpu_times()
                        cpu += times.user + times.system
                        if descendants:
                            cpu += times.children_user + times.children_system
                except psutil.Error:
                    continue
        return rss / 2**20, cpu

    def take(self) -> dict[str, float]:
        rss: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name, pids in self.groups.items():
            # The harness's children are the extra workers and web processes, counted in their groups.
            rss[name], cpu[name] = self.measure(pids, descendants=name != "harness")
        self.samples.append((time.monotonic(), rss, cpu))
        if self.db_port:
            self.count_db_connections()
        return rss

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.take)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)

    def memory(self, since: float, until: float) -> dict[str, Any]:
        window = [(t, rss) for t, rss, _ in self.samples if since <= t <= until]
        result: dict[str, Any] = {}
        for name in self.groups:
            if name in ("postgres", "redis", "harness"):
                continue
            series = [(t, rss[name]) for t, rss in window if rss.get(name)]
            if len(series) < 3:
                result[name] = None
                continue
            third = max(1, len(series) // 3)
            first = statistics.median(v for _, v in series[:third])
            last = statistics.median(v for _, v in series[-third:])
            ts = np.array([t for t, _ in series]) / 60
            slope = float(np.polyfit(ts - ts[0], [v for _, v in series], 1)[0])
            result[name] = {
                "samples": len(series),
                "first_third_median_mb": round(first, 1),
                "last_third_median_mb": round(last, 1),
                "growth_mb": round(last - first, 1),
                "growth_pct": round(100 * (last - first) / first, 1),
                "max_mb": round(max(v for _, v in series), 1),
                "slope_mb_per_min": round(slope, 2),
            }
        return result

    def cpu_cores(self, since: float, until: float) -> dict[str, float]:
        window = [(t, cpu) for t, _, cpu in self.samples if since <= t <= until]
        if len(window) < 2:
            return {}
        (t0, first), (t1, last) = window[0], window[-1]
        return {name: round((last[name] - first[name]) / (t1 - t0), 2) for name in self.groups}


def process_groups(
    config: Config, args: argparse.Namespace, extra: dict[str, list[int]]
) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    # The processes the run goes through: the added ones replace the stack's web process (the run posts
    # to them only) and a paused stack worker (it takes no task).
    stack_web = [] if extra.get("web") else [p for p in [read_pid(config.run / "web.pid")] if p]
    stack_worker = [] if args.pause_worker else [p for p in [read_pid(config.run / "worker.pid")] if p]
    groups["web"] = (args.web_pid or stack_web) + extra.get("web", [])
    groups["worker"] = (args.worker_pid or stack_worker) + extra.get("worker", [])
    if not groups["web"]:
        say(f"no web process found ({config.run}/web.pid); its memory is not sampled (pass --web-pid)")
    if not groups["worker"]:
        say(f"no worker process found ({config.run}/worker.pid); pass --worker-pid")
    postmaster = read_pid(config.pgdata / "postmaster.pid")
    groups["postgres"] = [postmaster] if postmaster else []
    groups["redis"] = [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]
    groups["harness"] = [os.getpid()]
    return groups


def db_port(config: Config) -> int | None:
    """The PostgreSQL port the stack uses: DATABASE_URL's, else the embedded server's."""
    if config.database_url:
        return urlsplit(config.database_url).port or 5432
    return config.pg_port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(config: Config) -> dict[str, str]:
    """What `./salesrl.sh up` gives its worker and web processes (salesrl.stack), for the extra ones."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "ORT_DISABLE_TELEMETRY": "1",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "salesrl.settings"),
        "SALESRL_STATE_DIR": str(config.state_dir),
        "SALESRL_PG_PORT": str(config.pg_port),
        "REDIS_URL": config.redis_url,
    }


@contextlib.contextmanager
def extra_processes(
    config: Config, args: argparse.Namespace
) -> Iterator[tuple[dict[str, list[int]], list[str]]]:
    """Start --add-workers Celery workers and --add-web daphne processes; stop them (and only them) after."""
    started: list[subprocess.Popen[bytes]] = []
    pids: dict[str, list[int]] = {"web": [], "worker": []}
    urls: list[str] = []
    config.logs.mkdir(parents=True, exist_ok=True)
    try:
        logs = []
        queues = [q for q in (args.worker_queues or "").split(";") if q]
        for i in range(args.add_workers):
            extra: tuple[str, ...] = ("--without-gossip",)
            if queues:
                extra += ("-Q", queues[i % len(queues)])
            argv = worker_argv(
                concurrency=args.worker_concurrency, name=f"load{i}-{os.getpid()}@%h", extra=extra
            )
            log = config.logs / f"load-worker-{i}.log"
            with open(log, "wb") as out:
                started.append(
                    subprocess.Popen(
                        argv, cwd=ROOT, env=child_env(config), stdout=out, stderr=subprocess.STDOUT
                    )
                )
            pids["worker"].append(started[-1].pid)
            logs.append(log)
        for i in range(args.add_web):
            port = free_port()
            argv = web_argv(host="127.0.0.1", port=port)
            with open(config.logs / f"load-web-{i}.log", "wb") as out:
                started.append(
                    subprocess.Popen(
                        argv, cwd=ROOT, env=child_env(config), stdout=out, stderr=subprocess.STDOUT
                    )
                )
            pids["web"].append(started[-1].pid)
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            workers_ready = all(" ready." in log.read_text(errors="replace") for log in logs)
            webs_ready = all(_port_open(url) for url in urls)
            if workers_ready and webs_ready:
                break
            if any(p.poll() is not None for p in started):
                raise SystemExit(f"an extra process exited early; see {config.logs}/load-*.log")
            time.sleep(0.5)
        else:
            raise SystemExit(f"extra processes not ready after 90 s; see {config.logs}/load-*.log")
        if started:
            say(f"started {args.add_workers} extra worker(s) and {args.add_web} extra web process(es)")
        yield pids, urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _port_open(url: str) -> bool:
    host, _, port = url.removeprefix("http://").partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.3):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def paused_workers(config: Config, nodes: list[str]) -> Iterator[None]:
    """Stop the named Celery workers consuming the default queue for the run, and resume them after: the
    run then measures only the workers it started (--add-workers). The workers keep running meanwhile."""
    if not nodes:
        yield
        return
    from celery import Celery  # only needed here; the control commands go through the broker

    app = Celery(broker=config.redis_url)
    try:
        replies = app.control.cancel_consumer("celery", destination=nodes, reply=True, timeout=5)
        answered = {name for reply in replies for name in reply}
        if answered != set(nodes):
            raise SystemExit(f"--pause-worker: no answer from {sorted(set(nodes) - answered)}")
        say(f"paused {', '.join(nodes)} (consuming again at the end)")
        yield
    finally:
        app.control.add_consumer("celery", destination=nodes, reply=True, timeout=5)
        app.close()


# --- The run --------------------------------------------------------------------------------------------


def batch_figures(stats: Stats, args: argparse.Namespace, seconds: float) -> dict[str, Any] | None:
    """--ingest batch: the requests sent in the window (by when they were sent). Their statuses are the
    requests' own; the items' are in errors.turn_post_status, as in the per-turn mode."""
    if args.ingest != "batch":
        return None
    window = [b for b in stats.batches if stats.in_window(b.started)]
    sizes = [b.turns for b in window]
    return {
        "flush_ms": args.flush_ms,
        "batch_max": args.batch_max,
        "batches_posted": len(window),
        "batches_posted_total": len(stats.batches),  # the whole run, warm-up and final flush included
        "batches_per_s": round(len(window) / seconds, 1),
        "turns_per_batch": {
            "mean": round(statistics.fmean(sizes), 1),
            "p50": statistics.median(sizes),
            "max": max(sizes),
        }
        if sizes
        else None,
        "flushed_by": dict(Counter(b.reason for b in window)),
        "request_status": dict(Counter(b.status for b in window)),
        # The request alone, without the wait in the queue that the turns' post_response includes.
        "request_ms": percentiles([b.elapsed * 1000 for b in window if b.status == "200"]),
    }


def summarise(
    stats: Stats, sampler: Sampler, args: argparse.Namespace, verified: tuple[int, int], **extra: Any
) -> dict[str, Any]:
    measured = [r for r in stats.records.values() if r.measured]
    ok = [r for r in measured if r.status in ("200", "201")]
    latency: dict[str, Any] = {
        "post_response": percentiles([(r.posted - r.started) * 1000 for r in ok if r.posted is not None])
    }
    for kind in PUSHES:
        latency[kind] = percentiles([(r.pushes[kind] - r.started) * 1000 for r in ok if kind in r.pushes])
    window_start = stats.started + stats.warmup
    window_end = stats.started + stats.duration
    seconds = stats.duration - stats.warmup

    def per_second(times: list[float]) -> float:
        return round(sum(window_start <= t <= window_end for t in times) / seconds, 1)

    every = list(stats.records.values())
    cores = sampler.cpu_cores(window_start, window_end)
    scored_per_s = per_second([r.pushes["score"] for r in every if "score" in r.pushes])
    statuses = Counter(r.status for r in measured)
    late = sum(1 for r in ok if "score" in r.pushes and r.pushes["score"] - r.started > args.turn_timeout)
    unpushed = [r for r in every if r.status in ("200", "201") and "score" not in r.pushes]
    lag = percentiles(stats.loop_lag_ms) or {}
    score = latency["score"]
    return {
        "benchmark": "load",
        "pace": args.pace,
        "ingest": args.ingest,
        "mean_gap_s": args.mean_gap if args.pace == "human" else None,
        "conversations": args.conversations,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "texts": args.texts,
        "web_processes": len(sampler.groups["web"]),
        "worker_processes": len(sampler.groups["worker"]),
        "extra_worker_concurrency": args.worker_concurrency if args.add_workers else None,
        "batch": batch_figures(stats, args, seconds),
        "turns_posted": len(ok),
        "turns_posted_per_s": per_second(
            [r.posted for r in every if r.posted and r.status in ("200", "201")]
        ),
        "turns_scored_per_s": scored_per_s,
        "guidance_per_s": per_second([r.pushes["guidance"] for r in every if "guidance" in r.pushes]),
        "confidence_per_s": per_second([r.pushes["confidence"] for r in every if "confidence" in r.pushes]),
        "latency_ms": latency,
        "target_score_p99_ms": TARGET_SCORE_P99_MS,
        "score_p99_within_target": bool(score and score["p99"] <= TARGET_SCORE_P99_MS),
        "target_scored_per_s": TARGET_SCORED_PER_S,
        "share_with_guidance": round(sum("guidance" in r.pushes for r in ok) / len(ok), 3) if ok else None,
        "share_with_confidence": round(sum("confidence" in r.pushes for r in ok) / len(ok), 3)
        if ok
        else None,
        "scorer_versions": dict(stats.scorer_versions),
        "errors": {
            "turn_post_status": dict(statuses),
            "conversation_create_status": dict(stats.create_status),
            "conversation_close_status": dict(stats.close_status),
            "ws_connect_failures": dict(stats.ws_connect_failures),
            "ws_disconnects": stats.ws_disconnects,
            "score_later_than_timeout": late,
            "turns_without_score_push": len(unpushed),
            # A socket that reconnected found these scores in its snapshot: stored, their push missed.
            "score_only_in_snapshot": sum(r.score_seen_in_snapshot for r in every),
            "score_stored_but_not_pushed": verified[0],
            "never_scored": verified[1],
        },
        "conversations_opened": stats.conversations_opened,
        "conversations_finished": stats.conversations_finished,
        "memory": sampler.memory(window_start, window_end + 5),
        "db_connections_max": sampler.db_connections,
        "cpu_cores_used": cores,
        # CPU per scored turn is steadier than throughput on a shared machine: it does not depend on how
        # much of the CPU other programs left over. PostgreSQL's figure covers all its databases.
        "cpu_ms_per_scored_turn": {
            name: round(1000 * used / scored_per_s, 1) for name, used in cores.items() if scored_per_s
        },
        "harness_loop_lag_ms": {k: lag.get(k) for k in ("p50", "p99", "max")},
        **extra,
    }


async def progress(stats: Stats, sampler: Sampler, stop: asyncio.Event, every: float = 5.0) -> None:
    last_t, last_posted, last_scored = time.monotonic(), 0, 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        now = time.monotonic()
        records = list(stats.records.values())
        posted = sum(1 for r in records if r.posted and r.status in ("200", "201"))
        scored = sum(1 for r in records if "score" in r.pushes)
        recent = [
            (r.pushes["score"] - r.started) * 1000
            for r in records
            if "score" in r.pushes and r.pushes["score"] > last_t
        ]
        figures = percentiles(recent) or {"p50": 0, "p99": 0}
        rss = sampler.samples[-1][1] if sampler.samples else {}
        errors = sum(1 for r in records if r.status not in ("200", "201", ""))
        elapsed = now - last_t
        batches = f"batches {len(stats.batches)} " if stats.batches else ""
        say(
            f"t={now - stats.started:5.0f}s posted {posted:6d} ({(posted - last_posted) / elapsed:6.1f}/s) "
            f"scored {scored:6d} ({(scored - last_scored) / elapsed:6.1f}/s) "
            f"in flight {posted - scored:4d} score p50 {figures['p50']:6.0f} p99 {figures['p99']:6.0f} ms "
            f"{batches}errors {errors} disconnects {stats.ws_disconnects} "
            f"rss web {rss.get('web', 0):.0f} MB worker {rss.get('worker', 0):.0f} MB"
        )
        last_t, last_posted, last_scored = now, posted, scored


async def run(args: argparse.Namespace) -> dict[str, Any]:
    config = Config.from_env()
    password = args.password
    if password is None:
        credentials = config.state_dir / "demo_credentials.json"
        if not credentials.exists():
            raise SystemExit(f"{credentials} not found: run ./salesrl.sh up first, or pass --password")
        password = json.loads(credentials.read_text())[args.user]["password"]
    tokens = read_tokens(args.token_file or config.state_dir / "demo_token")
    load_before = os.getloadavg()
    with (
        extra_processes(config, args) as (extra_pids, extra_urls),
        paused_workers(config, args.pause_worker or []),
    ):
        # With --add-web the run goes to the added web processes only, unless --url names others too.
        urls = [u.rstrip("/") for u in (args.url or ([] if extra_urls else [config.base_url]))] + extra_urls
        sessions = Sessions(urls, tokens, args.conversations, timeout=args.http_timeout)
        try:
            await sessions.log_in(args.user, password)
            sampler = Sampler(process_groups(config, args, extra_pids), args.sample_every, db_port(config))
            sampler.take()
            stats = Stats(started=time.monotonic(), warmup=args.warmup, duration=args.duration)
            load = Load(args, sessions, stats)
            sampling = asyncio.Event()
            background = [
                asyncio.create_task(sampler.run(sampling)),
                asyncio.create_task(progress(stats, sampler, sampling)),
                asyncio.create_task(load.loop_lag()),
            ]
            say(
                f"{args.conversations} conversations, pace {args.pace}"
                + (f" (a turn every {args.mean_gap:g} s each)" if args.pace == "human" else " (closed loop)")
                + (
                    f", turns in batches (every {args.flush_ms:g} ms, at most {args.batch_max})"
                    if args.ingest == "batch"
                    else ""
                )
                + f", {args.duration:g} s against {', '.join(urls)}"
            )
            slots = [asyncio.create_task(load.slot(i)) for i in range(args.conversations)]
            await asyncio.sleep(args.duration)
            load.stopping.set()
            say("stopping: waiting for the pushes still on their way, then closing the conversations")
            await asyncio.wait(slots, timeout=args.turn_timeout + 30)
            # The slots have posted their last turns: what a batcher still holds goes out, then it ends.
            await load.stop_batchers()
            verified = await load.verify_unscored()
            sampling.set()
            for task in [*background, *slots]:
                task.cancel()
            await asyncio.gather(*background, *slots, return_exceptions=True)
        finally:
            await sessions.close()
    return summarise(
        stats,
        sampler,
        args,
        verified,
        cpu_count=os.cpu_count(),
        load_avg_before=[round(v, 2) for v in load_before],
        load_avg_after=[round(v, 2) for v in os.getloadavg()],
    )


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{result['conversations']} conversations, pace {result['pace']}, {result['duration_s']} s: "
        f"{result['turns_posted_per_s']} turns posted/s, {result['turns_scored_per_s']} scored/s"
    )
    batch = result.get("batch")
    if batch:
        sizes = batch["turns_per_batch"] or {"mean": 0, "max": 0}
        print(
            f"  batches: {batch['batches_posted']} ({batch['batches_per_s']}/s), turns per batch mean "
            f"{sizes['mean']} max {sizes['max']}, flushed by {batch['flushed_by']}, "
            f"request status {batch['request_status']}"
        )
    for kind, figures in result["latency_ms"].items():
        if figures:
            print(
                f"  post -> {kind:13} p50 {figures['p50']:8.1f}  p95 {figures['p95']:8.1f}  "
                f"p99 {figures['p99']:8.1f}  max {figures['max']:8.1f} ms  (n={figures['n']})"
            )
    for name, memory in result["memory"].items():
        if memory:
            print(
                f"  rss {name:7} {memory['first_third_median_mb']:7.1f} -> "
                f"{memory['last_third_median_mb']:7.1f} MB "
                f"({memory['growth_mb']:+.1f} MB, {memory['slope_mb_per_min']:+.2f} MB/min)"
            )
    print(f"  cpu cores used: {result['cpu_cores_used']}")
    print(f"  most PostgreSQL connections held at once: {result['db_connections_max']}")
    print(f"  cpu ms per scored turn: {result['cpu_ms_per_scored_turn']}")
    print(f"  errors: {json.dumps(result['errors'])}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pace", choices=("human", "full"), default="human")
    parser.add_argument(
        "--ingest",
        choices=("turn", "batch"),
        default="turn",
        help="turn: one POST per turn (default); batch: each team's turns flushed together to "
        f"{BATCH_PATH}, as a dialer integration streams many calls",
    )
    parser.add_argument(
        "--flush-ms",
        type=float,
        default=20,
        help="batch ingest: milliseconds between a team's flushes (20; 0: as soon as a turn is queued)",
    )
    parser.add_argument(
        "--batch-max",
        type=int,
        default=200,
        help=f"batch ingest: turns per request at most, flushed at once when waiting (200; 1..{BATCH_LIMIT})",
    )
    parser.add_argument("--conversations", type=int, default=100, help="live conversations at once (100)")
    parser.add_argument(
        "--duration", type=float, default=120, help="seconds of posting (120; 600 for a soak)"
    )
    parser.add_argument("--warmup", type=float, default=10, help="first seconds left out of the figures (10)")
    parser.add_argument(
        "--mean-gap", type=float, default=3.0, help="human pace: mean seconds between turns (3)"
    )
    parser.add_argument("--turn-timeout", type=float, default=30, help="seconds a turn's score may take (30)")
    parser.add_argument(
        "--http-timeout", type=float, default=30, help="seconds an HTTP request may take (30)"
    )
    parser.add_argument("--sample-every", type=float, default=3, help="seconds between RSS samples (3)")
    parser.add_argument("--texts", choices=("unique", "simulated"), default="unique")
    parser.add_argument("--seed", type=int, default=None, help="simulator and jitter seed (default: time)")
    parser.add_argument(
        "--url",
        action="append",
        help="web base URL (repeat for several; default http://SALESRL_HOST:SALESRL_PORT)",
    )
    parser.add_argument(
        "--token-file", type=Path, default=None, help="API tokens (default <state>/demo_token)"
    )
    parser.add_argument("--user", default="admin", help="who the websockets log in as (admin)")
    parser.add_argument("--password", default=None, help="default: from <state>/demo_credentials.json")
    parser.add_argument("--reps", default=None, help="team:rep,... to spread conversations over (demo reps)")
    parser.add_argument(
        "--web-pid", type=int, action="append", help="web process to sample (default web.pid)"
    )
    parser.add_argument(
        "--worker-pid", type=int, action="append", help="worker to sample (default worker.pid)"
    )
    parser.add_argument("--add-workers", type=int, default=0, help="extra Celery workers for this run (0)")
    parser.add_argument(
        "--worker-concurrency", type=int, default=1, help="prefork processes of each extra worker (1)"
    )
    parser.add_argument(
        "--worker-queues",
        metavar="Q1;Q2",
        help="the queues (-Q) of each extra worker in turn, e.g. 'live;celery' (default: the default queue)",
    )
    parser.add_argument(
        "--pause-worker",
        action="append",
        metavar="NODE",
        help="a running worker (e.g. salesrl@$(hostname)) to stop consuming during the run; repeatable",
    )
    parser.add_argument(
        "--add-web",
        type=int,
        default=0,
        help="extra daphne processes for this run; the run then uses them only (add --url for the stack's "
        "too); with several, each conversation posts to one and listens on another",
    )
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = int(time.time())
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    if not 1 <= args.batch_max <= BATCH_LIMIT:
        parser.error(f"--batch-max must be within 1..{BATCH_LIMIT} (what the batch endpoint accepts)")
    if args.flush_ms < 0:
        parser.error("--flush-ms must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print_table(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
