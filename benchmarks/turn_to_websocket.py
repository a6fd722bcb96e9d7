"""Time from a turn's HTTP POST to its websocket messages, against a running SalesRL.

    ./salesrl.sh up                                   # in another terminal, or before
    .state/venv/bin/python benchmarks/turn_to_websocket.py [--turns 200] [--url http://127.0.0.1:8000]

Logs in as the demo admin (credentials from <state>/demo_credentials.json, or --user/--password),
opens conversations through the API, subscribes to each one's websocket like the live page does,
then posts turns one at a time and waits for three pushes: the turn itself (sent by the web process
after commit), its score (computed by the Celery worker) and the guidance that follows the score (its
own task: acts, advice, nudges, similar won conversations). Prints per-stage percentiles; the
last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import websockets

STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state")


class Session:
    """A logged-in browser-like HTTP session (session cookie + CSRF), as the live page uses."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def log_in(self, username: str, password: str) -> None:
        self.opener.open(self.base_url + "/login/", timeout=10).read()
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        ).encode()
        request = urllib.request.Request(
            self.base_url + "/login/", data=form, headers={"Referer": self.base_url}
        )
        self.opener.open(request, timeout=10).read()
        if not self.cookie("sessionid"):
            raise SystemExit(f"could not log in as {username}")

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": self.cookie("csrftoken"),
                "Referer": self.base_url,
            },
        )
        with self.opener.open(request, timeout=10) as response:
            return json.loads(response.read())


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 2),
    }


async def measure_conversation(session: Session, team: str, rep: str, turns: int, offset: int) -> list[dict]:
    conversation = session.post(
        "/api/v1/conversations/",
        {"team": team, "rep": rep, "external_id": "", "metadata": {"benchmark": True}},
    )
    ws_url = session.base_url.replace("http", "ws", 1) + f"/ws/conversations/{conversation['id']}/"
    headers = {"Cookie": f"sessionid={session.cookie('sessionid')}", "Origin": session.base_url}
    samples = []
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        snapshot = json.loads(await socket.recv())
        assert snapshot["type"] == "snapshot", snapshot
        for index in range(turns):
            speaker = "rep" if index % 2 == 0 else "customer"
            text = f"Benchmark turn {offset + index}: what would a pilot with your team look like?"
            started = time.perf_counter()
            await asyncio.to_thread(
                session.post,
                f"/api/v1/conversations/{conversation['id']}/turns/",
                {"speaker": speaker, "text": text, "index": index},
            )
            posted = time.perf_counter()
            got_turn = got_score = got_guidance = None
            while got_turn is None or got_score is None or got_guidance is None:
                event = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
                now = time.perf_counter()
                if event["type"] == "turn" and event["turn"]["index"] == index:
                    got_turn = now
                elif event["type"] == "score" and event["turn_index"] == index:
                    got_score = now
                elif event["type"] == "guidance" and event["turn_index"] == index:
                    got_guidance = now
            samples.append(
                {
                    "post": (posted - started) * 1000,
                    "turn": (got_turn - started) * 1000,
                    "score": (got_score - started) * 1000,
                    "guidance": (got_guidance - started) * 1000,
                }
            )
    session.post(f"/api/v1/conversations/{conversation['id']}/close/", {"outcome": "lost"})
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:" + (os.environ.get("SALESRL_PORT") or "8000"))
    parser.add_argument("--turns", type=int, default=200, help="turns to time in all (default 200)")
    parser.add_argument("--per-conversation", type=int, default=20)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default=None)
    parser.add_argument("--team", default="inside-sales")
    parser.add_argument("--rep", default="rita")
    args = parser.parse_args()
    password = args.password
    if password is None:
        credentials = STATE_DIR / "demo_credentials.json"
        if not credentials.exists():
            raise SystemExit(f"{credentials} not found: run ./salesrl.sh up first, or pass --password")
        password = json.loads(credentials.read_text())[args.user]["password"]

    session = Session(args.url)
    session.log_in(args.user, password)
    samples: list[dict] = []
    while len(samples) < args.turns:
        batch = min(args.per_conversation, args.turns - len(samples))
        samples += await measure_conversation(session, args.team, args.rep, batch, len(samples))
        print(f"{len(samples)}/{args.turns} turns timed", file=sys.stderr)
    result = {
        "benchmark": "turn_post_to_websocket",
        "turns": len(samples),
        "post_response_ms": percentiles([s["post"] for s in samples]),
        "post_to_turn_event_ms": percentiles([s["turn"] for s in samples]),
        "post_to_score_event_ms": percentiles([s["score"] for s in samples]),
        "post_to_guidance_event_ms": percentiles([s["guidance"] for s in samples]),
    }
    for key in [k for k in result if k.endswith("_ms")]:
        figures = result[key]
        print(f"{key:24} p50 {figures['p50']:7.1f}  p95 {figures['p95']:7.1f}  p99 {figures['p99']:7.1f}")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
