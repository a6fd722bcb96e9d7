"""Sentence embeddings for turns: a local ONNX model (offline) or OpenAI / Azure OpenAI.

Runtime only: numpy, onnxruntime, tokenizers and (optionally) openai. Never torch, never Django,
so web and worker processes stay small; `scoring.ml.export_embedder` makes the local model once.

Every backend returns float32 rows of unit length, so a dot product is a cosine similarity and
the state encoder can mix embeddings without caring where they came from. `Embedder.name` is part
of every cache key (in memory and the database's EmbeddingCache) and of every policy model's
sidecar: two backends that can give different vectors for one text must never share a name.

Local model folder (written by `python -m scoring.ml.export_embedder --out DIR`):
    model.onnx       all-MiniLM-L6-v2 + mean pooling + L2 norm, int8 dynamic (per-channel) quantised
    tokenizer.json   the model's tokenizer (its baked-in 128-token truncation/padding is overridden here)
    embedder.json    the sidecar: name, dim, max_length, quantisation, sha256 of model.onnx, agreement
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .artifacts import sha256_file

# Must be set before onnxruntime is imported: otherwise ORT 1.31 writes a device id and an event queue
# under ~/.cache/Microsoft on the first session (onnxruntime.disable_telemetry_events() does not stop it).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort
from tokenizers import Tokenizer

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_BACKEND = "local"
LOCAL_DIM = 384
# sentence-transformers' max_seq_length for this model. tokenizer.json says 128 (and pads to 128),
# which would silently differ from the reference model on long turns and slow down batch-1 inference.
LOCAL_MAX_LENGTH = 256
LOCAL_QUANTIZATION = "int8-per-channel"
# The local embedder's name (LocalOnnxEmbedder.name): known without loading the model, so the fallback for a
# failing remote backend can look for models trained on it first.
LOCAL_EMBEDDER_NAME = f"{LOCAL_MODEL_NAME}/{LOCAL_QUANTIZATION}"
LOCAL_MODEL_SUBDIR = ("models", "minilm-l6-v2-int8")
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
SIDECAR_FILE = "embedder.json"

OPENAI_DEFAULT_MODEL = "text-embedding-3-large"
OPENAI_NATIVE_DIMS = {
    "text-embedding-3-large": 3072,
    "text-embedding-3-small": 1536,
    "text-embedding-ada-002": 1536,
}
AZURE_DEFAULT_API_VERSION = "2024-10-21"
EMBEDDER_KINDS = ("local", "openai", "azure")


class EmbedderError(ValueError):
    """An embedding backend cannot be used: missing or mismatched model files, or missing configuration.

    A ValueError so callers that already fall back on bad model artifacts (scoring.services) catch it too.
    """


class EmbeddingUnavailable(RuntimeError):
    """A remote backend gave no embeddings even after the client's own retries: connection refused, timeout,
    an HTTP error. Not a ValueError: the configuration is fine, the service is not, so callers score with a
    stand-in (scoring.services) instead of treating the model as broken.

    `transient` is False for answers a retry will not change (400, 401, 403, 404, ...), True for the rest.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@runtime_checkable
class Embedder(Protocol):
    """What the scoring engine needs from an embedding backend."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dim), every row L2-normalised, in input order."""
        ...


def content_hash(text: str) -> str:
    """Hex sha256 of the exact text (UTF-8): the cache key here and in the database's EmbeddingCache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in float32; all-zero rows stay zero instead of becoming NaN."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def _empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)


# --- Local ONNX model ---------------------------------------------------------------------------------------


def default_local_model_dir(state_dir: Path) -> Path:
    """Where the exported local model lives inside a state folder."""
    return Path(state_dir).joinpath(*LOCAL_MODEL_SUBDIR)


def read_local_sidecar(model_dir: Path) -> dict[str, Any]:
    """The validated sidecar of a local model folder; raises EmbedderError saying what is wrong.

    Checks that the three files exist, that the sidecar describes the model this code was written for,
    and that model.onnx still has the sha256 recorded at export (a truncated copy or a swapped file
    would otherwise load and silently produce different vectors).
    """
    model_dir = Path(model_dir)
    hint = f"run `python -m scoring.ml.export_embedder --out {model_dir} --force` to (re)create it"
    sidecar_path = model_dir / SIDECAR_FILE
    if not sidecar_path.is_file():
        raise EmbedderError(f"no local embedding model in {model_dir}: {SIDECAR_FILE} is missing; {hint}")
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmbedderError(f"{sidecar_path} is unreadable ({exc}); {hint}") from exc
    if not isinstance(sidecar, dict):
        raise EmbedderError(f"{sidecar_path} is not a JSON object; {hint}")
    expected = {
        "name": LOCAL_MODEL_NAME,
        "backend": LOCAL_BACKEND,
        "dim": LOCAL_DIM,
        "max_length": LOCAL_MAX_LENGTH,
        "quantization": LOCAL_QUANTIZATION,
    }
    for key, value in expected.items():
        if sidecar.get(key) != value:
            raise EmbedderError(
                f"{sidecar_path} does not match this runtime: {key} is {sidecar.get(key)!r}, "
                f"expected {value!r}; {hint}"
            )
    for filename in (MODEL_FILE, TOKENIZER_FILE):
        if not (model_dir / filename).is_file():
            raise EmbedderError(f"{model_dir / filename} is missing; {hint}")
    recorded = sidecar.get("onnx_sha256")
    if not isinstance(recorded, str) or len(recorded) != 64:
        raise EmbedderError(f"{sidecar_path} has no valid onnx_sha256; {hint}")
    actual = sha256_file(model_dir / MODEL_FILE)
    if actual != recorded:
        raise EmbedderError(
            f"{model_dir / MODEL_FILE} has sha256 {actual}, but {SIDECAR_FILE} records {recorded}: "
            f"the file was changed or damaged; {hint}"
        )
    tokenizer_sha = sidecar.get("tokenizer_sha256")
    if tokenizer_sha is not None and sha256_file(model_dir / TOKENIZER_FILE) != tokenizer_sha:
        raise EmbedderError(
            f"{model_dir / TOKENIZER_FILE} differs from the one exported with the model; {hint}"
        )
    return sidecar


def load_tokenizer(path: Path, max_length: int = LOCAL_MAX_LENGTH) -> Tokenizer:
    """The model's tokenizer with truncation at `max_length` and padding to the longest text of a batch.

    tokenizer.json of all-MiniLM-L6-v2 has truncation at 128 and fixed padding to 128 baked in: left as is,
    long turns get cut earlier than in sentence-transformers and every batch-1 call runs 128 positions.
    """
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    return tokenizer


class LocalOnnxEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) with onnxruntime + tokenizers: 384 dims, offline, a few ms per turn.

    Why one text per session run by default (`batch_size=1`): dynamic int8 quantisation picks ONE activation
    scale per tensor, i.e. per batch, and padded positions enter that range too. Measured on this model: a
    sentence embedded inside a padded batch of 16 had cosine 0.945 with the same sentence embedded alone
    (0.984 even when all texts of the batch had the same token length). That is larger than the int8-vs-torch
    error, and it would make a text's vector depend on its neighbours: training (bulk) and live scoring (one
    turn) would see different vectors, and the content-hash caches would keep whichever came first. Batch 1
    keeps every vector a pure function of its text, and on 1-2 threads it was not slower (~160 texts/s both
    ways on a busy 2-core machine). `batch_size > 1` is there for throughput experiments only.
    """

    def __init__(self, model_dir: Path, *, threads: int = 1, batch_size: int = 1) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_dir = Path(model_dir)
        self.sidecar = read_local_sidecar(self.model_dir)
        self.name = LOCAL_EMBEDDER_NAME
        self.dim = int(self.sidecar["dim"])
        self.max_length = int(self.sidecar["max_length"])
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(self.model_dir / TOKENIZER_FILE, self.max_length)
        options = ort.SessionOptions()
        # One thread by default: workers run several processes, and batch-1 inference gains little from more.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {node.name for node in self.session.get_inputs()}
        self.output_name = self.session.get_outputs()[0].name

    def __repr__(self) -> str:
        return f"LocalOnnxEmbedder({str(self.model_dir)!r}, name={self.name!r})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        if not texts:
            return _empty(self.dim)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            out[start : start + len(chunk)] = self._run(chunk)
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        feeds = {name: value for name, value in feeds.items() if name in self.input_names}
        (vectors,) = self.session.run([self.output_name], feeds)
        # The graph already normalises; doing it again in float32 keeps the contract exact after int8 drift.
        return l2_normalise(vectors)


def _as_text_list(texts: Sequence[str]) -> list[str]:
    """A list of str; a bare string is refused: it would silently be embedded character by character."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single string: use embed([text])")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"embed() takes strings, got {type(item).__name__}")
    return items


# --- OpenAI / Azure OpenAI ----------------------------------------------------------------------------------


class OpenAIEmbedder:
    """Embeddings from OpenAI or Azure OpenAI through one `client.embeddings.create` call per batch.

    `client` is an `openai.OpenAI` or `openai.AzureOpenAI`. For Azure, build the client with
    `azure_deployment=...` (openai_client_from_env does) so the request goes to that deployment, and keep
    `model` the real model name: it fixes the default width and the embedder's name.
    `dimensions` asks the API for shortened vectors (text-embedding-3-*): pgvector's HNSW index takes at most
    2000 dims on `vector`, 4000 on `halfvec`.
    """

    def __init__(
        self,
        client: Any,
        *,
        model: str = OPENAI_DEFAULT_MODEL,
        dimensions: int | None = None,
        batch_size: int = 64,
    ) -> None:
        if dimensions is not None and dimensions < 1:
            raise ValueError("dimensions must be a positive integer")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if dimensions is None and model not in OPENAI_NATIVE_DIMS:
            known = ", ".join(sorted(OPENAI_NATIVE_DIMS))
            raise EmbedderError(
                f"unknown width of embedding model {model!r}: pass dimensions= (known: {known})"
            )
        self.client = client
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.dim = dimensions if dimensions is not None else OPENAI_NATIVE_DIMS[model]
        # OpenAI and Azure serve the same model weights, so they share a name (and cached vectors).
        self.name = f"openai/{model}/{self.dim}"

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, dim={self.dim}, client={type(self.client).__name__})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        if not texts:
            return _empty(self.dim)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            out[start : start + len(chunk)] = self._request(chunk)
        return out

    def _request(self, texts: list[str]) -> np.ndarray:
        kwargs: dict[str, Any] = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        # The API rejects empty strings; a blank turn gets the vector of a single space instead.
        kwargs["input"] = [text if text.strip() else " " for text in texts]
        try:
            response = self.client.embeddings.create(**kwargs)
        except Exception as exc:
            raise _unavailable(self.name, exc) from exc
        data = sorted(response.data, key=lambda item: item.index)  # the API documents `index`, not the order
        if len(data) != len(texts):
            raise EmbedderError(f"{self.model}: asked for {len(texts)} embeddings, got {len(data)}")
        matrix = np.asarray([item.embedding for item in data], dtype=np.float32)
        if matrix.shape != (len(texts), self.dim):
            raise EmbedderError(
                f"{self.model}: got vectors of shape {matrix.shape}, expected (n, {self.dim})"
            )
        return l2_normalise(matrix)


def _unavailable(name: str, exc: Exception) -> Exception:
    """An openai client error as EmbeddingUnavailable; anything else (a bug, a custom client's) as is."""
    try:
        import openai
    except ImportError:  # a custom client without the package: its errors are its own
        return exc
    if not isinstance(exc, openai.APIError):
        return exc
    status = getattr(exc, "status_code", None)
    # Connection errors and timeouts have no status; 408/409/429/5xx are the ones the client itself retries.
    transient = status is None or status in (408, 409, 429) or status >= 500
    what = f"HTTP {status}" if status is not None else type(exc).__name__
    return EmbeddingUnavailable(f"{name}: {what}: {exc}", transient=transient)


def openai_client_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    max_retries: int | None = None,
    timeout: float | None = None,
) -> Any:
    """AzureOpenAI if AZURE_OPENAI_ENDPOINT is set, else OpenAI if OPENAI_API_KEY is set, else None.

    Azure: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, AZURE_OPENAI_API_VERSION (default 2024-10-21) and
    AZURE_OPENAI_DEPLOYMENT (the embedding deployment; without it the model name is used as deployment).
    OpenAI: OPENAI_API_KEY and optionally OPENAI_BASE_URL (include /v1 for OpenAI-compatible servers).
    `max_retries` and `timeout` (seconds per attempt) go to the client; unset, the openai defaults apply
    (2 retries with exponential back-off from 0.5 s, and a 600 s read timeout).
    """
    env = os.environ if environ is None else environ
    if env.get("AZURE_OPENAI_ENDPOINT"):
        return azure_client_from_env(env, max_retries=max_retries, timeout=timeout)
    if env.get("OPENAI_API_KEY"):
        return openai_only_client_from_env(env, max_retries=max_retries, timeout=timeout)
    return None


def _client_options(max_retries: int | None, timeout: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if max_retries is not None:
        options["max_retries"] = max_retries
    if timeout is not None:
        options["timeout"] = timeout
    return options


def openai_only_client_from_env(
    env: Mapping[str, str], *, max_retries: int | None = None, timeout: float | None = None
) -> Any:
    """`openai.OpenAI` from OPENAI_API_KEY / OPENAI_BASE_URL; EmbedderError when the key is missing."""
    if not env.get("OPENAI_API_KEY"):
        raise EmbedderError("the openai embedder needs OPENAI_API_KEY (and optionally OPENAI_BASE_URL)")
    openai = _import_openai()
    kwargs: dict[str, Any] = {"api_key": env["OPENAI_API_KEY"]}
    if env.get("OPENAI_BASE_URL"):
        kwargs["base_url"] = env["OPENAI_BASE_URL"]
    return openai.OpenAI(**kwargs, **_client_options(max_retries, timeout))


def azure_client_from_env(
    env: Mapping[str, str], *, max_retries: int | None = None, timeout: float | None = None
) -> Any:
    """`openai.AzureOpenAI` from the AZURE_OPENAI_* variables; EmbedderError naming what is missing."""
    missing = [name for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY") if not env.get(name)]
    if missing:
        raise EmbedderError(
            f"the azure embedder needs {' and '.join(missing)} "
            "(plus AZURE_OPENAI_DEPLOYMENT, and optionally AZURE_OPENAI_API_VERSION)"
        )
    openai = _import_openai()
    kwargs: dict[str, Any] = {
        "azure_endpoint": env["AZURE_OPENAI_ENDPOINT"],
        "api_key": env["AZURE_OPENAI_API_KEY"],
        "api_version": env.get("AZURE_OPENAI_API_VERSION") or AZURE_DEFAULT_API_VERSION,
    }
    if env.get("AZURE_OPENAI_DEPLOYMENT"):
        kwargs["azure_deployment"] = env["AZURE_OPENAI_DEPLOYMENT"]
    return openai.AzureOpenAI(**kwargs, **_client_options(max_retries, timeout))


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:  # it is a runtime dependency, but keep the message useful in slim installs
        raise EmbedderError("the openai/azure embedders need the `openai` package") from exc
    return openai


# --- Cache --------------------------------------------------------------------------------------------------


class CachedEmbedder:
    """An in-memory LRU in front of any embedder, keyed by the sha256 of the exact text.

    Same name and dim as the inner embedder (a cached vector is the same vector). Each call embeds only
    the texts it has not seen, once each, in one inner call, and returns rows in input order.
    """

    def __init__(self, inner: Embedder, max_items: int = 100_000) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.inner = inner
        self.name: str = inner.name
        self.dim: int = inner.dim
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cache)

    def __repr__(self) -> str:
        counts = f"items={len(self._cache)}, hits={self.hits}, misses={self.misses}"
        return f"CachedEmbedder({self.inner!r}, {counts})"

    def clear(self) -> None:
        self._cache.clear()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _as_text_list(texts)
        keys = [content_hash(text) for text in texts]
        found: dict[str, np.ndarray] = {}
        wanted: dict[str, str] = {}  # hash -> text, first occurrence; duplicates in one call embed once
        for key, text in zip(keys, texts, strict=True):
            vector = self._cache.get(key)
            if vector is not None:
                self._cache.move_to_end(key)
                found[key] = vector
                self.hits += 1
            elif key in wanted:
                self.hits += 1
            else:
                wanted[key] = text
                self.misses += 1
        if wanted:
            vectors = np.asarray(self.inner.embed(list(wanted.values())), dtype=np.float32)
            if vectors.shape != (len(wanted), self.dim):
                raise EmbedderError(f"{self.name}: inner embedder returned shape {vectors.shape}")
            for key, vector in zip(wanted, vectors, strict=True):
                vector = vector.copy()
                vector.flags.writeable = False  # shared between callers: nobody may change a cached vector
                found[key] = vector
                self._cache[key] = vector
            while len(self._cache) > self.max_items:
                self._cache.popitem(last=False)
        if not keys:
            return _empty(self.dim)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)


# --- Factory ------------------------------------------------------------------------------------------------


def load_embedder(
    kind: str,
    *,
    state_dir: Path,
    model_dir: Path | None = None,
    threads: int = 1,
    model: str | None = None,
    dimensions: int | None = None,
    client: Any = None,
    environ: Mapping[str, str] | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
) -> Embedder:
    """The embedding backend `kind` ("local", "openai" or "azure"), configured from arguments and environment.

    local:  the exported model in `model_dir` (default <state_dir>/models/minilm-l6-v2-int8).
    openai: OPENAI_API_KEY, OPENAI_BASE_URL; azure: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
            AZURE_OPENAI_API_VERSION, AZURE_OPENAI_DEPLOYMENT. For both, the model comes from `model` or
            SALESRL_OPENAI_EMBEDDING_MODEL (default text-embedding-3-large) and the width from `dimensions`
            or SALESRL_OPENAI_EMBEDDING_DIMENSIONS (default: the model's native width).
    `client` replaces the client built from the environment (custom proxies); `max_retries` and `timeout`
    (seconds per attempt) are passed to a client built here (the openai defaults are 2 retries with
    back-off and a 600 s read timeout, which would hold a scoring task for half an hour).
    """
    env = os.environ if environ is None else environ
    if kind == "local":
        return LocalOnnxEmbedder(model_dir or default_local_model_dir(state_dir), threads=threads)
    if kind not in ("openai", "azure"):
        raise EmbedderError(f"unknown embedder kind {kind!r}: expected one of {', '.join(EMBEDDER_KINDS)}")
    model = model or env.get("SALESRL_OPENAI_EMBEDDING_MODEL") or OPENAI_DEFAULT_MODEL
    if dimensions is None and env.get("SALESRL_OPENAI_EMBEDDING_DIMENSIONS"):
        raw = env["SALESRL_OPENAI_EMBEDDING_DIMENSIONS"]
        try:
            dimensions = int(raw)
        except ValueError as exc:
            raise EmbedderError(
                f"SALESRL_OPENAI_EMBEDDING_DIMENSIONS must be an integer, got {raw!r}"
            ) from exc
    if client is None:
        build = azure_client_from_env if kind == "azure" else openai_only_client_from_env
        client = build(env, max_retries=max_retries, timeout=timeout)
    return OpenAIEmbedder(client, model=model, dimensions=dimensions)
