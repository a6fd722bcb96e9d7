"""LLM rewriting of simulated conversations, against a local fake chat-completions server.

Nothing here contacts a real network address: the fake server listens on 127.0.0.1 (port 0) and every
client is built with max_retries=0. No database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from openai import AzureOpenAI, OpenAI

from scoring.ml.llm_writer import (
    DEFAULT_AZURE_API_VERSION,
    MalformedAnswer,
    OpenAIConversationWriter,
    build_request,
    client_from_env,
    parse_answer,
)
from scoring.ml.simulator import SkilledPolicy, simulate_conversation

REPO = Path(__file__).resolve().parents[3]


class FakeChatServer(ThreadingHTTPServer):
    """Answers POST .../chat/completions; `mode` selects a good or a broken answer."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeChatServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        headers = self.headers
        seen = {
            "path": self.path,
            "body": body,
            "auth": headers.get("Authorization"),
            "api_key": headers.get("api-key"),
        }
        self.server.requests.append(seen)
        if not self.path.split("?")[0].endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found"}})
            return
        mode = self.server.mode
        if mode == "http500":
            self._send(500, {"error": {"message": "boom", "type": "server_error"}})
            return
        if mode == "http401":
            self._send(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
            return
        payload = json.loads(body["messages"][-1]["content"])
        turns = payload["turns"]
        finish_reason = "stop"
        if mode == "ok":
            content = json.dumps(
                {"turns": [f"[{t['speaker']} {t['i']}] {t['text']} (rewritten)" for t in turns]}
            )
        elif mode == "objects":
            content = json.dumps(
                {"turns": [{"speaker": t["speaker"], "text": f"v2 {t['i']}"} for t in turns]}
            )
        elif mode == "not_json":
            content = "Sure! Here is the rewritten conversation: ..."
        elif mode == "wrong_count":
            content = json.dumps({"turns": [t["text"] for t in turns[:-1]]})
        elif mode == "empty_text":
            content = json.dumps({"turns": ["" for _ in turns]})
        elif mode == "swapped_speaker":
            content = json.dumps({"turns": [{"speaker": "rep", "text": "x"} for _ in turns]})
        elif mode == "truncated":
            content, finish_reason = '{"turns": ["Hi', "length"
        elif mode == "not_a_completion":
            self._send(200, {"hello": "world"})
            return
        else:
            raise AssertionError(mode)
        message = {"role": "assistant", "content": content}
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        self._send(200, completion)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChatServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeChatServer()
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()
    thread.join(timeout=5)


@pytest.fixture
def record() -> dict[str, Any]:
    return simulate_conversation(np.random.default_rng(4), conversation_id="sim-test", policy=SkilledPolicy())


def _client(server: FakeChatServer) -> OpenAI:
    return OpenAI(api_key="test-key", base_url=f"{server.url}/v1", max_retries=0, timeout=10)


def test_rewrite_keeps_structure_and_labels(server: FakeChatServer, record: dict[str, Any]) -> None:
    original = json.loads(json.dumps(record))
    rewritten = OpenAIConversationWriter(_client(server), model="gpt-4o-mini").rewrite(record)

    assert record == original  # the input is not modified
    assert len(rewritten["turns"]) == len(record["turns"])
    for i, (new, old) in enumerate(zip(rewritten["turns"], record["turns"], strict=True)):
        assert new["speaker"] == old["speaker"] and new["ts"] == old["ts"]
        assert new["text"] == f"[{old['speaker']} {i}] {old['text']} (rewritten)"
    assert rewritten["converted"] == record["converted"]
    meta = rewritten["meta"]
    assert meta["llm_rewritten"] is True and meta["llm_model"] == "gpt-4o-mini"
    for key in ("rep_acts", "leak_turn", "industry", "product", "channel", "policy"):
        assert meta[key] == record["meta"][key]

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer test-key"
    body = request["body"]
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    payload = json.loads(body["messages"][1]["content"])
    assert payload == build_request(record)
    assert payload["n_turns"] == len(record["turns"])
    rep_acts = [t["act"] for t in payload["turns"] if t["speaker"] == "rep"]
    assert rep_acts == record["meta"]["rep_acts"]
    assert "converted" not in payload  # the model is never told the outcome as a label


def test_turn_objects_are_accepted(server: FakeChatServer, record: dict[str, Any]) -> None:
    server.mode = "objects"
    rewritten = OpenAIConversationWriter(_client(server)).rewrite(record)
    assert rewritten["meta"]["llm_rewritten"] is True
    assert [t["text"] for t in rewritten["turns"]] == [f"v2 {i}" for i in range(len(record["turns"]))]


@pytest.mark.parametrize(
    "mode",
    ["not_json", "wrong_count", "empty_text", "swapped_speaker", "truncated", "http500", "not_a_completion"],
)
def test_bad_answers_fall_back_to_the_original_text(
    server: FakeChatServer, record: dict[str, Any], mode: str
) -> None:
    server.mode = mode
    rewritten = OpenAIConversationWriter(_client(server)).rewrite(record)  # never raises
    assert [t["text"] for t in rewritten["turns"]] == [t["text"] for t in record["turns"]]
    assert rewritten["meta"]["llm_rewritten"] is False
    assert rewritten["meta"]["llm_error"]
    assert rewritten["meta"]["leak_turn"] == record["meta"]["leak_turn"]
    assert rewritten["converted"] == record["converted"]


def test_a_misconfigured_client_raises(server: FakeChatServer, record: dict[str, Any]) -> None:
    server.mode = "http401"
    with pytest.raises(openai.AuthenticationError):
        OpenAIConversationWriter(_client(server)).rewrite(record)


def test_azure_client_from_env_talks_to_the_deployment(
    server: FakeChatServer, record: dict[str, Any]
) -> None:
    client = client_from_env(
        {"AZURE_OPENAI_ENDPOINT": server.url, "AZURE_OPENAI_API_KEY": "azure-key"}, max_retries=0
    )
    assert isinstance(client, AzureOpenAI)
    rewritten = OpenAIConversationWriter(client, model="my-deployment").rewrite(record)
    assert rewritten["meta"]["llm_rewritten"] is True
    (request,) = server.requests
    assert (
        request["path"]
        == f"/openai/deployments/my-deployment/chat/completions?api-version={DEFAULT_AZURE_API_VERSION}"
    )
    assert request["api_key"] == "azure-key"


def test_client_from_env_choices() -> None:
    local = "http://127.0.0.1:9/v1"
    client = client_from_env({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": local}, max_retries=0)
    assert isinstance(client, OpenAI) and not isinstance(client, AzureOpenAI)
    assert str(client.base_url).rstrip("/") == local
    azure = client_from_env(
        {
            "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
            "AZURE_OPENAI_API_KEY": "k",
            "AZURE_OPENAI_API_VERSION": "v1",
        },
        max_retries=0,
    )
    assert isinstance(azure, AzureOpenAI)
    assert client_from_env({}) is None
    assert client_from_env({"AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9"}) is None  # no key


def test_parse_answer_validation() -> None:
    turns = [{"speaker": "rep", "text": "a"}, {"speaker": "customer", "text": "b"}]
    assert parse_answer('{"turns": ["x", " y "]}', turns) == ["x", "y"]
    assert parse_answer('["x", {"text": "y"}]', turns) == ["x", "y"]
    for bad in (
        None,
        "",
        "{}",
        '{"turns": "x"}',
        '{"turns": ["x"]}',
        '{"turns": ["x", 3]}',
        '{"turns": ["x", "y' + "z" * 2000 + '"]}',
    ):
        with pytest.raises(MalformedAnswer):
            parse_answer(bad, turns)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scoring.ml.simulator", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}


def test_cli_rewrite_without_a_client_fails_clearly(tmp_path: Path) -> None:
    args = ["--conversations", "2", "--out", str(tmp_path / "x.jsonl"), "--rewrite-with-llm", "gpt-4o-mini"]
    result = _cli(args, _clean_env())
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "AZURE_OPENAI_ENDPOINT" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_rewrites_through_the_configured_client(server: FakeChatServer, tmp_path: Path) -> None:
    env = _clean_env() | {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": f"{server.url}/v1"}
    out = tmp_path / "rewritten.jsonl"
    args = ["--conversations", "3", "--seed", "2", "--out", str(out), "--no-progress"]
    result = _cli([*args, "--rewrite-with-llm", "gpt-4o-mini", "--llm-max-retries", "0"], env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["sim-2-0", "sim-2-1", "sim-2-2"]
    assert all(r["meta"]["llm_rewritten"] is True for r in records)
    assert all(t["text"].endswith("(rewritten)") for r in records for t in r["turns"])
    assert len(server.requests) == 3
