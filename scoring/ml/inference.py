"""Serving the policy network with onnxruntime: no torch, no Django.

`PolicyModel.load(folder, expect=spec)` refuses an artifact whose sidecar does not match the
runtime (state layout, feature schema, embedding model), or whose file hash changed. A model with a
context reader (scoring.ml.context) carries it in the same folder; `PolicyModel.context` serves it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import SIDECAR_FORMAT, SIDECAR_KIND, sha256_file
from .confidence import ConfidenceModel
from .context import ContextEncoder
from .dataset import EncodedConversations, sequential_predict, with_previous
from .state import StateSpec

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort


class ArtifactError(ValueError):
    """The model folder is missing, damaged, or was built for another state layout."""


@dataclass(frozen=True)
class Prediction:
    probability: np.ndarray  # (n,) mean of the heads
    head_probs: np.ndarray  # (n, heads)


class PolicyModel:
    def __init__(
        self,
        folder: Path,
        sidecar: dict[str, Any],
        session: ort.InferenceSession,
        context: ContextEncoder | None = None,
        confidence: ConfidenceModel | None = None,
    ) -> None:
        self.folder = folder
        self.sidecar = sidecar
        self.session = session
        self.spec = StateSpec.from_dict(sidecar["state"])
        self.version: str = sidecar["version"]
        self.context = context
        # Calibration and confidence (None for a model trained before they existed).
        self.confidence = confidence
        self._value_session: ort.InferenceSession | None = None

    @classmethod
    def load(
        cls,
        folder: Path | str,
        *,
        expect: StateSpec | None = None,
        threads: int = 1,
        file: str | None = None,
        neighbours: bool = True,
    ) -> PolicyModel:
        """`neighbours=False` skips the training states (the live path asks pgvector for them)."""
        folder = Path(folder)
        try:
            sidecar = json.loads((folder / "model.json").read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{folder}: no readable model.json ({exc})") from None
        if sidecar.get("kind") != SIDECAR_KIND or sidecar.get("format") != SIDECAR_FORMAT:
            raise ArtifactError(f"{folder}: not a SalesRL policy sidecar of format {SIDECAR_FORMAT}")
        spec = StateSpec.from_dict(sidecar["state"])
        if expect is not None and (reason := expect.mismatch(spec)):
            raise ArtifactError(f"{folder}: the model was built for another state layout ({reason})")
        name = file or sidecar["served"]
        path = folder / name
        if not path.exists() or sha256_file(path) != sidecar["files"].get(name):
            raise ArtifactError(f"{path}: missing or its sha256 differs from the sidecar")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        width = session.get_inputs()[0].shape[1]
        if width != spec.dim:
            raise ArtifactError(f"{path}: input width {width} != state width {spec.dim} in the sidecar")
        context = None
        if spec.context_dim:
            description = sidecar.get("context") or {}
            if (
                int(description.get("dim", -1)) != spec.context_dim
                or int(description.get("window", -1)) != spec.context_window
            ):
                raise ArtifactError(f"{folder}: the state has a context part but no matching context reader")
            try:
                context = ContextEncoder(folder, description, sidecar["files"])
            except (KeyError, OSError, ValueError) as exc:
                raise ArtifactError(f"{folder}: context reader: {exc}") from None
        confidence = None
        if sidecar.get("confidence"):
            try:
                confidence = ConfidenceModel.read(folder, sidecar["files"], with_neighbours=neighbours)
            except (KeyError, OSError, ValueError) as exc:
                raise ArtifactError(f"{folder}: confidence: {exc}") from None
        return cls(folder, sidecar, session, context, confidence)

    def predict(self, states: np.ndarray) -> Prediction:
        probability, head_probs = self.session.run(None, {"state": np.ascontiguousarray(states, np.float32)})
        return Prediction(probability=probability, head_probs=head_probs)

    def value(self, states: np.ndarray) -> np.ndarray:
        """The value network's expected return for each state (its own ONNX file, loaded on first use)."""
        if self._value_session is None:
            path = self.folder / self.sidecar["value_file"]
            if sha256_file(path) != self.sidecar["files"].get(path.name):
                raise ArtifactError(f"{path}: missing or its sha256 differs from the sidecar")
            self._value_session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return self._value_session.run(None, {"state": np.ascontiguousarray(states, np.float32)})[0]

    def prepare(self, data: EncodedConversations) -> EncodedConversations:
        """`data` (encoded without a context part) with this model's context vectors, if it reads any."""
        if self.context is None:
            return data
        window = self.spec.context_window
        return data.with_context(self.context.encode(data.context_windows(window)), window)

    def head_probabilities(self, data: EncodedConversations, probabilities: np.ndarray) -> np.ndarray:
        """Each ensemble head's probability for every row, the states carrying `probabilities`."""
        positions = data.row_position()
        heads = np.zeros((len(probabilities), self.sidecar["heads"]), dtype=np.float32)
        for t in range(int(data.lengths.max()) if len(data) else 0):
            rows = np.flatnonzero(positions == t)
            states = with_previous(data.static[rows], probabilities, rows, t, self.spec.n_previous)
            heads[rows] = self.predict(states).head_probs
        return heads

    def predict_conversations(self, data: EncodedConversations) -> np.ndarray:
        """Probabilities for every row of prepared `data`; each state carries the model's earlier ones."""
        return sequential_predict(data, lambda states: self.predict(states).probability)
