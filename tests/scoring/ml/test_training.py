"""Training (supervised → PPO), ONNX export, and the runtime's checks of the artifact."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra")

from scoring.ml.dataset import encode_conversations, sequential_predict  # noqa: E402
from scoring.ml.export import export_model  # noqa: E402
from scoring.ml.inference import ArtifactError, PolicyModel  # noqa: E402
from scoring.ml.metrics import roc_auc  # noqa: E402
from scoring.ml.state import StateSpec  # noqa: E402
from scoring.ml.train import TrainConfig, full_states, predict_rows, split_validation, train_model  # noqa: E402
from tests.scoring.ml.fakes import HashEmbedder, keyword_conversations  # noqa: E402

SPEC = StateSpec(embedding_name="test-hash", embedding_dim=16)
CONFIG = TrainConfig(
    epochs=6,
    batch_size=128,
    ppo_iterations=6,
    ppo_conversations=200,
    value_warmup=2,
    hidden=64,
    heads=3,
    seed=1,
    context_reader="off",  # the reader has its own tests (test_context_reader.py)
)


@pytest.fixture(scope="module")
def data():
    records = keyword_conversations(500, seed=11)
    return encode_conversations(
        records, turns_of=lambda r: r["turns"], embedder=HashEmbedder(16), spec=SPEC, progress=False
    )


@pytest.fixture(scope="module")
def trained(data):
    return train_model(data, CONFIG, progress=False)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return export_model(trained, tmp_path_factory.mktemp("models"), training={"source": "test"})


def test_training_learns_the_signal_and_runs_a_real_ppo_stage(trained, data):
    # Early turns carry no signal in this data, so judge the estimate after each conversation's last turn.
    _, val_idx = split_validation(len(data), CONFIG.val_fraction, data.labels, CONFIG.seed)
    val = data.subset(val_idx)
    last = val.offsets + val.lengths - 1
    assert roc_auc(val.labels, predict_rows(trained.net, val)[last]) > 0.8
    assert "ppo" in trained.validation
    ppo_updates = [h for h in trained.history if h["stage"] == "ppo" and h.get("value_only") is False]
    assert len(ppo_updates) == CONFIG.ppo_iterations
    # The clipped surrogate really clips some ratios, and the policy noise is a learned parameter.
    assert any(h["clip_fraction"] > 0 for h in ppo_updates)
    assert trained.chosen in {"ppo", "supervised"}


def test_later_rows_carry_the_models_own_earlier_estimates(trained, data):
    subset = data.subset(range(20))
    probabilities = predict_rows(trained.net, subset)
    # Same inputs but previous estimates forced to 0.5: the later rows must change.
    forced = sequential_predict(
        subset, _torch_predict(trained.net), previous_from=np.full(len(probabilities), 0.5)
    )
    later = subset.row_position() > 0
    assert not np.allclose(probabilities[later], forced[later])
    assert np.allclose(probabilities[~later], forced[~later], atol=1e-6)


def _torch_predict(net):
    def predict(states):
        with torch.no_grad():
            logits, _ = net(torch.from_numpy(states))
            return torch.sigmoid(logits.mean(dim=-1)).numpy()

    return predict


def test_onnx_agrees_with_torch(trained, exported, data):
    subset = data.subset(range(40))
    expected = predict_rows(trained.net, subset)
    fp32 = PolicyModel.load(exported, expect=SPEC, file="policy.onnx")
    assert np.max(np.abs(fp32.predict_conversations(subset) - expected)) < 1e-4
    served = PolicyModel.load(exported, expect=SPEC)
    assert np.max(np.abs(served.predict_conversations(subset) - expected)) < 0.05
    assert roc_auc(subset.labels[subset.row_conversation()], served.predict_conversations(subset)) > 0.7


def test_the_value_network_is_exported_beside_the_policy(trained, exported, data):
    subset = data.subset(range(10))
    states = full_states(subset, predict_rows(trained.net, subset))
    with torch.no_grad():
        _, expected = trained.net(torch.from_numpy(states))
    served = PolicyModel.load(exported, expect=SPEC)
    assert np.allclose(served.value(states), expected.numpy(), atol=1e-4)


def test_the_sidecar_describes_the_artifact(exported):
    sidecar = json.loads((exported / "model.json").read_text())
    assert sidecar["state"]["dim"] == SPEC.dim and sidecar["state"]["embedding_name"] == "test-hash"
    assert sidecar["served"] in sidecar["files"]
    assert set(sidecar["metrics"]["validation"]) >= {"supervised"}
    assert sidecar["agreement_max_abs_diff"]["fp32"] < 1e-4


def test_the_runtime_refuses_a_model_built_for_another_state(exported):
    with pytest.raises(ArtifactError, match="embedding_dim"):
        PolicyModel.load(exported, expect=StateSpec(embedding_name="test-hash", embedding_dim=384))
    with pytest.raises(ArtifactError, match="feature names"):
        PolicyModel.load(
            exported, expect=StateSpec(embedding_name="test-hash", embedding_dim=16, feature_names=("x",))
        )


def test_the_runtime_refuses_a_tampered_file(exported, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(exported), str(copy)], check=True)
    sidecar = json.loads((copy / "model.json").read_text())
    with open(copy / sidecar["served"], "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="sha256"):
        PolicyModel.load(copy, expect=SPEC)


def test_calibration_and_confidence_travel_with_the_model(trained, exported, data, tmp_path):
    sidecar = json.loads((exported / "model.json").read_text())
    assert sidecar["confidence"]["calibration"] == trained.confidence.calibrator.method
    assert sidecar["confidence"]["training_states"] == len(trained.confidence.neighbours.labels)
    calibration = sidecar["metrics"]["calibration"]
    assert len(calibration["reliability_calibrated"]) == 10 and calibration["ece_calibrated"] >= 0
    model = PolicyModel.load(exported, expect=SPEC)
    served = model.confidence
    raw = model.predict_conversations(data)
    estimates = served.estimate_encoded(data, raw, model.head_probabilities(data, raw))
    assert np.all((estimates.confidence >= 0) & (estimates.confidence <= 1))
    assert estimates.probability.shape == raw.shape
    # Without its training states (the live path keeps them in pgvector) the model still loads.
    assert PolicyModel.load(exported, expect=SPEC, neighbours=False).confidence.neighbours is None
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(exported), str(copy)], check=True)
    (copy / "confidence.json").write_text((copy / "confidence.json").read_text() + " ")
    with pytest.raises(ArtifactError, match="confidence"):
        PolicyModel.load(copy, expect=SPEC)


def test_a_one_row_ppo_minibatch_does_not_poison_the_network(data):
    from dataclasses import replace

    from scoring.ml.train import split_validation

    train_idx, _ = split_validation(len(data), CONFIG.val_fraction, data.labels, CONFIG.seed)
    rows = int(data.lengths[train_idx].sum())
    # Every training conversation in each rollout, minibatches of rows - 1: the last one holds one row.
    config = replace(
        CONFIG, epochs=1, ppo_iterations=2, ppo_conversations=len(train_idx), ppo_minibatch=rows - 1
    )
    result = train_model(data, config, progress=False)
    assert all(np.isfinite(p.detach().numpy()).all() for p in result.net.parameters())


def test_inference_imports_neither_torch_nor_django():
    code = "import sys, scoring.ml.inference; print('torch' in sys.modules, 'django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"
