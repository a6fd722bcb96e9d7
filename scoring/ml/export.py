"""Export a trained network to ONNX (fp32 and dynamic int8) with the JSON sidecar serving checks.

Layout of a model version folder:
    <out>/<version>/policy.onnx        fp32
    <out>/<version>/policy.int8.onnx   dynamic int8 (served when it agrees with fp32, see `served`)
    <out>/<version>/value.onnx         the value network
    <out>/<version>/context.onnx, context.int8.onnx, context.tokenizer.json
                                       the context reader, when the model has one (scoring.ml.context)
    <out>/<version>/confidence.json, similarity.npz
                                       calibration, confidence and the training states it compares
                                       with (scoring.ml.confidence)
    <out>/<version>/model.json         the sidecar: version, state layout, metrics, file hashes
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifacts import SIDECAR_FORMAT, SIDECAR_KIND, sha256_file
from .model import ServingModel, ValueModel

OPSET = 17
# int8 is served only if it stays this close to fp32 on the probabilities of real states.
INT8_MAX_ABS_DIFF = 0.02


def _export(module: torch.nn.Module, width: int, path: Path, outputs: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: see STACK.md
        torch.onnx.export(
            module,
            (torch.zeros(2, width),),
            str(path),
            input_names=["state"],
            output_names=outputs,
            dynamic_axes={"state": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
            opset_version=OPSET,
            dynamo=False,
        )


def new_version() -> str:
    return dt.datetime.now(dt.UTC).strftime("policy-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def export_model(
    result: Any,
    out: Path,
    *,
    training: dict[str, Any],
    sample_states: np.ndarray | None = None,
) -> Path:
    """Write the version folder of a TrainResult atomically (a temp folder renamed at the end); return it."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    spec = result.spec
    version = new_version()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=out))
    serving = ServingModel(result.net).eval()
    fp32 = work / "policy.onnx"
    _export(serving, spec.dim, fp32, ["probability", "head_probs"])
    _export(ValueModel(result.net).eval(), spec.dim, work / "value.onnx", ["value"])
    int8 = work / "policy.int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)

    # Agreement: torch vs ONNX fp32 vs int8 on sample states (or random ones around the mean).
    if sample_states is None:
        sample_states = getattr(result, "sample_states", None)
    if sample_states is None:
        rng = np.random.default_rng(0)
        mean = result.net.input_mean.numpy()
        std = result.net.input_std.numpy()
        sample_states = (mean + std * rng.standard_normal((256, spec.dim))).astype(np.float32)
    with torch.no_grad():
        reference = serving(torch.from_numpy(sample_states))[0].numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    agreement = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        produced = session.run(["probability"], {"state": sample_states})[0]
        agreement[name] = float(np.max(np.abs(produced - reference)))
    served = "policy.int8.onnx" if agreement["int8"] <= INT8_MAX_ABS_DIFF else "policy.onnx"
    files = {name: sha256_file(work / name) for name in ("policy.onnx", "policy.int8.onnx", "value.onnx")}
    confidence = None
    if getattr(result, "confidence", None) is not None:
        confidence_files = result.confidence.write(work)
        files.update(confidence_files)
        confidence = {
            "files": sorted(confidence_files),
            "calibration": result.confidence.calibrator.method,
            "training_states": len(result.confidence.neighbours.labels)
            if result.confidence.neighbours
            else 0,
        }
    context = None
    if getattr(result, "context_net", None) is not None:
        context = _export_context_reader(result, work, serving, sample_states, reference, files)

    sidecar = {
        "format": SIDECAR_FORMAT,
        "kind": SIDECAR_KIND,
        "version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "state": spec.to_dict(),
        "heads": int(result.net.heads.out_features),
        "inputs": {"state": ["batch", spec.dim]},
        "value_file": "value.onnx",
        "outputs": {"probability": ["batch"], "head_probs": ["batch", int(result.net.heads.out_features)]},
        "files": files,
        "served": served,
        "context": context,
        "confidence": confidence,
        "agreement_max_abs_diff": agreement,
        "training": {
            **training,
            "chosen_stage": result.chosen,
            "seconds": round(result.seconds, 1),
            "config": asdict(result.config),
            "history": result.history,
        },
        "metrics": {
            "validation": result.validation,
            **({"calibration": result.confidence.report["calibration"]} if confidence else {}),
        },
        "torch_version": torch.__version__,
    }
    (work / "model.json").write_text(json.dumps(sidecar, indent=2, default=_json_default))
    final = out / version
    work.rename(final)
    return final


def _export_context_reader(
    result: Any,
    work: Path,
    serving: ServingModel,
    sample_states: np.ndarray,
    reference: np.ndarray,
    files: dict[str, str],
) -> dict[str, Any]:
    """Export the reader and choose the file to serve, judged end to end: the sample states with the
    ONNX reader's vectors in place of torch's must give probabilities within INT8_MAX_ABS_DIFF."""
    from .context import ContextEncoder
    from .context_train import FP32_FILE, INT8_FILE, export_reader

    exported = export_reader(result.context_net, work, result.context_config)
    files.update(exported["files"])
    description = exported["description"]
    spec = result.spec
    start = spec.static_dim - spec.context_dim
    windows = list(result.sample_windows or [])[: len(sample_states)]
    agreement = {}
    for name in (FP32_FILE, INT8_FILE):
        reader = ContextEncoder(work, {**description, "served": name}, files)
        states = sample_states[: len(windows)].copy()
        states[:, start : start + spec.context_dim] = reader.encode(windows)
        with torch.no_grad():
            produced = serving(torch.from_numpy(states))[0].numpy()
        agreement[name] = float(np.max(np.abs(produced - reference[: len(windows)]))) if windows else 0.0
    description["served"] = INT8_FILE if agreement[INT8_FILE] <= INT8_MAX_ABS_DIFF else FP32_FILE
    description["agreement_max_abs_diff"] = agreement
    # 90 MB (fp32) or 23 MB (int8) that nothing serves: every model version would carry it.
    unserved = FP32_FILE if description["served"] == INT8_FILE else INT8_FILE
    (work / unserved).unlink()
    files.pop(unserved)
    description["files"] = [description["served"]]
    return description


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def remove_version(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
