"""Replay the sample conversations through the HTTP API, turn by turn, at a human pace."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.demo import TEAMS, read_token_file, sample_lines


class ApiClient:
    """Posts as the demo integration; each team's requests carry that team's token."""

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens

    def post(self, team: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.tokens[team]}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


class Command(BaseCommand):
    help = (
        "Post the demo's sample conversations to a running SalesRL through its API, one turn every "
        "--pace seconds (jittered), in several conversations at once, closing each with its outcome."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="SalesRL base URL")
        parser.add_argument("--token-file", type=Path, default=Path(settings.STATE_DIR) / "demo_token")
        parser.add_argument(
            "--pace", type=float, default=2.5, help="seconds between turns of one conversation"
        )
        parser.add_argument("--concurrent", type=int, default=3, help="conversations in progress at once")
        parser.add_argument("--loop", action="store_true", help="keep replaying until stopped")
        parser.add_argument("--seed", type=int, default=None, help="random seed (order and jitter)")

    def handle(
        self,
        *args: Any,
        url: str,
        token_file: Path,
        pace: float,
        concurrent: int,
        loop: bool,
        seed: int | None,
        **options: Any,
    ) -> None:
        tokens = read_token_file(token_file)
        if not tokens:
            raise CommandError(f"no demo tokens in {token_file}: run `manage.py seed_demo` first")
        client = ApiClient(url, tokens)
        samples = [json.loads(line) for line in sample_lines()]
        reps = [(slug, rep) for slug, (_, _, names) in TEAMS.items() if slug in tokens for rep in names]
        rng = random.Random(seed)
        lock = threading.Lock()
        queue = rng.sample(samples, len(samples))

        def next_sample() -> dict[str, Any] | None:
            with lock:
                if not queue and loop:
                    queue.extend(rng.sample(samples, len(samples)))
                return queue.pop() if queue else None

        def worker(slot: int) -> None:
            time.sleep(slot * pace / max(concurrent, 1))  # stagger the slots
            while (sample := next_sample()) is not None:
                team, rep = reps[rng.randrange(len(reps))]
                self.replay(client, sample, team=team, rep=rep, pace=pace, rng=rng)

        threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(concurrent)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def replay(
        self,
        client: ApiClient,
        sample: dict[str, Any],
        *,
        team: str,
        rep: str,
        pace: float,
        rng: random.Random,
    ) -> None:
        meta = sample.get("meta", {})
        try:
            conversation = self.retrying(
                client.post,
                team,
                "/api/v1/conversations/",
                {
                    "team": team,
                    "rep": rep,
                    "external_id": f"live-{uuid.uuid4().hex[:8]}",
                    "channel": meta.get("channel", "chat"),
                    "industry": meta.get("industry", ""),
                    "metadata": {"demo_sample": sample["id"], "product": meta.get("product", "")},
                },
            )
            path = f"/api/v1/conversations/{conversation['id']}"
            self.stdout.write(f"conversation {conversation['id']} ({sample['id']}) for {rep} in {team}")
            for index, turn in enumerate(sample["turns"]):
                time.sleep(pace * rng.uniform(0.6, 1.4))
                self.retrying(
                    client.post,
                    team,
                    f"{path}/turns/",
                    {"index": index, "speaker": turn["speaker"], "text": turn["text"]},
                )
            time.sleep(pace)
            self.retrying(
                client.post, team, f"{path}/close/", {"outcome": "won" if sample["converted"] else "lost"}
            )
        except urllib.error.HTTPError as exc:
            self.stderr.write(f"API refused a demo request: {exc.code} {exc.read()[:300]!r}")

    def retrying(self, call: Any, *args: Any) -> dict[str, Any]:
        """Retry while the server is unreachable (restarts); turn indexes make retries safe."""
        delay = 1.0
        while True:
            try:
                return call(*args)
            except urllib.error.HTTPError:
                raise
            except OSError as exc:
                self.stderr.write(f"server unreachable ({exc}); retrying in {delay:.0f}s")
                time.sleep(delay)
                delay = min(delay * 2, 30)
