"""What moved it: occlusion against the state before the turn."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.ml.attribution import GROUP_LABELS, describe, group_indices, what_moved
from scoring.ml.state import StateSpec

SPEC = StateSpec(embedding_name="test", embedding_dim=4)


def test_groups_cover_embeddings_features_and_position_without_overlap() -> None:
    groups = group_indices(SPEC)
    every = np.concatenate(list(groups.values()))
    assert len(every) == len(set(every.tolist()))
    assert set(range(8)) <= set(groups["content"].tolist())
    assert SPEC.static_dim - 1 in groups["position"]  # the position coordinate closes the static part
    assert set(groups) <= set(GROUP_LABELS)


def test_the_group_that_changed_gets_the_effect() -> None:
    groups = group_indices(SPEC)
    objection = groups["objections"]
    before = np.zeros(SPEC.static_dim, dtype=np.float32)
    now = before.copy()
    now[objection] = 1.0  # only the objection features changed on this turn

    def predict(states: np.ndarray) -> np.ndarray:  # a model that only reads the objection features
        return 0.6 - 0.05 * states[:, objection].sum(axis=1)

    moved = what_moved(
        spec=SPEC,
        predict=predict,
        calibrate=lambda raw: raw,
        static_before=before,
        static_now=now,
        previous=np.zeros(2 * SPEC.n_previous, dtype=np.float32),
        probability_before=0.6,
        speaker="customer",
    )
    assert moved.delta == pytest.approx(-0.05 * len(objection))
    assert moved.effects["objections"] == pytest.approx(moved.delta)
    assert all(abs(v) < 1e-6 for g, v in moved.effects.items() if g != "objections")
    assert moved.sentence.startswith(f"Down {round(abs(moved.delta) * 100)} points after the customer's")
    assert "objection signals" in moved.sentence
    assert moved.to_dict()["parts"][0]["group"] == "objections"


def test_sentences_for_small_and_unexplained_changes() -> None:
    assert describe(0.004, {"tone": 0.004}, "rep") == "Little change after your last turn."
    assert "no single part" in describe(0.05, {"tone": -0.02}, "rep")
    assert describe(0.08, {"pricing": 0.05, "tone": 0.02, "content": -0.01}, "rep") == (
        "Up 8 points after your last turn, mostly the price talk (+5) and the tone (+2)."
    )
