"""The remote embedding backend failing or timing out: retried with back-off, then the turn is scored by a
stand-in (the newest model trained on the local embedder, else the baseline), marked as such.

Against a local fake OpenAI server. Two tiny policy models are trained once per module on hashing
embedders that carry the real backends' names: one as the active "openai" model, one as the "local"
one (the real local ONNX model is not needed: only its name decides which model may stand in).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="training the two models needs the train extra")

from scoring import services
from scoring.ml.dataset import encode_conversations
from scoring.ml.embeddings import LOCAL_EMBEDDER_NAME
from scoring.ml.export import export_model
from scoring.ml.state import StateSpec
from scoring.ml.train import TrainConfig, train_model
from scoring.models import Score
from tests.factories import make_conversation, make_turns
from tests.scoring.ml.fakes import HashEmbedder, keyword_conversations

pytestmark = pytest.mark.django_db

DIM = 16
REMOTE_NAME = f"openai/text-embedding-3-small/{DIM}"  # what OpenAIEmbedder calls itself with these settings
TINY = TrainConfig(epochs=3, batch_size=128, hidden=32, heads=3, seed=1, value_warmup=1, context_reader="off")


class FakeOpenAI:
    """/v1/embeddings that answers ("ok"), fails with HTTP 500 ("fail") or never answers in time ("hang")."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                fake.requests += 1
                try:
                    if fake.mode == "hang":
                        time.sleep(3)  # longer than the client's timeout: it has hung up by now
                        return
                    if fake.mode == "fail":
                        self.send_error(500, "upstream overloaded")
                        return
                    rng = np.random.default_rng(len(body["input"]))
                    vectors = rng.standard_normal((len(body["input"]), body["dimensions"])).astype("<f4")
                    data = [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": base64.b64encode(v.tobytes()).decode(),
                        }
                        for i, v in enumerate(vectors)
                    ]
                    usage = {"prompt_tokens": 1, "total_tokens": 1}
                    answer = {"object": "list", "data": data, "model": body["model"], "usage": usage}
                    payload = json.dumps(answer).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up on a hanging request
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hash_embedder(name: str) -> HashEmbedder:
    embedder = HashEmbedder(DIM)
    embedder.name = name
    return embedder


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory) -> dict[str, Any]:
    """One tiny model per backend name, trained and exported once (no database needed for that)."""
    out = tmp_path_factory.mktemp("models")
    folders = {}
    for kind, name in (("remote", REMOTE_NAME), ("local", LOCAL_EMBEDDER_NAME)):
        embedder = hash_embedder(name)
        data = encode_conversations(
            keyword_conversations(60, seed=3),
            turns_of=lambda r: r["turns"],
            embedder=embedder,
            spec=StateSpec(embedding_name=name, embedding_dim=DIM),
            progress=False,
        )
        result = train_model(data, TINY, progress=False, ppo_stage=False)
        folders[kind] = export_model(result, out, training={"source": f"fault tests ({kind})"})
    return folders


@pytest.fixture
def fake_openai(monkeypatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the client must talk to 127.0.0.1 directly
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fake = FakeOpenAI()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("SALESRL_OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
    monkeypatch.setenv("SALESRL_OPENAI_EMBEDDING_DIMENSIONS", str(DIM))
    yield fake
    fake.close()


@pytest.fixture
def remote_model(model_folders, fake_openai, settings, monkeypatch):
    """The active model reads openai embeddings; the "local" backend is a hashing stand-in by that name."""
    settings.SALESRL_EMBEDDER = "openai"
    settings.SALESRL_EMBEDDING_COOLDOWN_S = 30
    # Fresh per-process caches: the openai client is built from the settings and environment above.
    monkeypatch.setattr(services, "_embedders", {"local": hash_embedder(LOCAL_EMBEDDER_NAME)})
    monkeypatch.setattr(services, "_models", {})
    monkeypatch.setattr(services, "_backend_down", {})
    return services.register_model(folder=model_folders["remote"], source="fault tests", activate=True)


def test_a_failing_backend_is_retried_with_back_off_then_the_baseline_stands_in(
    org, remote_model, fake_openai, settings
):
    settings.SALESRL_EMBEDDING_MAX_RETRIES = 2
    fake_openai.mode = "fail"
    conversation = make_conversation(team=org.team, rep=org.rep)
    first, second = make_turns(conversation, "Hi, thanks for your time.", "What does it cost?")

    started = time.monotonic()
    score = services.score_turn(turn=first)
    elapsed = time.monotonic() - started

    assert fake_openai.requests == 3  # the first attempt and two retries
    assert elapsed >= 1.1  # back-off of 0.5 s, then 1 s, each less up to 25 % jitter
    assert score.model_version == services.BaselineScorer.version
    assert score.details["fallback"] == {
        "reason": score.details["fallback"]["reason"],
        "embedder": None,
        "from": REMOTE_NAME,
        "instead_of": remote_model.version,
    }
    assert "HTTP 500" in score.details["fallback"]["reason"]
    assert "embedding backend failed" in score.details["note"]

    # Within the cool-down the next turn goes straight to the stand-in: no request, no waiting.
    started = time.monotonic()
    next_score = services.score_turn(turn=second)
    assert fake_openai.requests == 3 and time.monotonic() - started < 1
    assert "not asked again" in next_score.details["fallback"]["reason"]
    # The stand-in's score answers for the active model: a redelivery returns it, the sweep leaves it.
    assert services.score_turn(turn=first).pk == score.pk and fake_openai.requests == 3
    assert services.requeue_unscored(older_than=dt.timedelta(0)).turn_ids == []
    print(f"\n[faults] HTTP 500: {fake_openai.requests} requests, baseline stand-in after {elapsed:.2f}s")


def test_a_timing_out_backend_falls_back_to_the_newest_model_trained_on_the_local_embedder(
    org, remote_model, model_folders, fake_openai, settings
):
    local_model = services.register_model(folder=model_folders["local"], source="fault tests")
    settings.SALESRL_EMBEDDING_MAX_RETRIES = 1
    settings.SALESRL_EMBEDDING_TIMEOUT_S = 1
    fake_openai.mode = "hang"
    conversation = make_conversation(team=org.team, rep=org.rep)
    turns = make_turns(conversation, "Hi, thanks for your time.", "This solves our reporting problem.")

    started = time.monotonic()
    score = services.score_turn(turn=turns[1])
    elapsed = time.monotonic() - started

    attempts = fake_openai.requests
    assert attempts == 2
    assert 2 <= elapsed < 6  # two 1 s timeouts and one back-off, not the client's default 600 s
    assert score.model_version == local_model.version and score.details["kind"] == "model"
    fallback = score.details["fallback"]
    assert fallback["embedder"] == LOCAL_EMBEDDER_NAME and fallback["from"] == REMOTE_NAME
    assert fallback["instead_of"] == remote_model.version and "APITimeoutError" in fallback["reason"]
    assert 0 < score.probability < 1
    # Its confidence step loads the stand-in model with the embedder it was trained on.
    assert services.estimate_confidence(score).confidence is not None

    # The backend answers again (and the cool-down is over): the active model scores the next turn.
    fake_openai.mode = "ok"
    services._backend_down.clear()
    (third,) = make_turns(conversation, "Can you send the contract?")
    recovered = services.score_turn(turn=third)
    assert recovered.model_version == remote_model.version and "fallback" not in recovered.details
    assert Score.objects.filter(conversation=conversation).count() == 2
    print(f"\n[faults] timeouts: {attempts} requests, local-model stand-in after {elapsed:.2f}s")
