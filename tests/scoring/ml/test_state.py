"""The state encoder: incremental, and blind to anything after turn t."""

from __future__ import annotations

import numpy as np

from scoring.ml.state import StateEncoder, StateSpec, previous_part, static_states
from tests.scoring.ml.fakes import HashEmbedder, keyword_conversations

SPEC = StateSpec(embedding_name="test-hash", embedding_dim=16)


def encode(turns):
    embedder = HashEmbedder(16)
    return static_states(SPEC, turns, embedder.embed([t["text"] for t in turns]))


def test_a_state_never_depends_on_later_turns():
    for record in keyword_conversations(20, seed=3):
        turns = record["turns"]
        full = encode(turns)
        for t in range(len(turns)):
            assert np.array_equal(encode(turns[: t + 1]), full[: t + 1])
        changed = [dict(turn) for turn in turns]
        changed[-1]["text"] = "Completely different words, an objection about the price!"
        assert np.array_equal(encode(changed)[:-1], full[:-1])


def test_the_outcome_is_not_an_input():
    record = keyword_conversations(1, seed=1)[0]
    flipped = {**record, "converted": not record["converted"]}
    assert np.array_equal(encode(record["turns"]), encode(flipped["turns"]))


def test_the_incremental_encoder_survives_a_round_trip_through_json():
    turns = keyword_conversations(1, seed=5)[0]["turns"]
    vectors = HashEmbedder(16).embed([t["text"] for t in turns])
    straight = StateEncoder(SPEC)
    expected = [
        straight.update(speaker=t["speaker"], text=t["text"], embedding=v)
        for t, v in zip(turns, vectors, strict=False)
    ]
    resumed = StateEncoder(SPEC)
    got = []
    for turn, vector in zip(turns, vectors, strict=False):
        resumed = StateEncoder.from_dict(SPEC, resumed.to_dict())  # what the live path does between turns
        got.append(resumed.update(speaker=turn["speaker"], text=turn["text"], embedding=vector))
        resumed.record_probability(0.3)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(expected, got, strict=False))
    assert len(got[0]) == SPEC.static_dim


def test_previous_probabilities_are_most_recent_first_with_a_mask():
    assert previous_part([]).tolist() == [0.5, 0.5, 0.5, 0, 0, 0]
    part = previous_part([0.1, 0.2, 0.3, 0.4])
    assert np.allclose(part, [0.4, 0.3, 0.2, 1, 1, 1])


def test_a_spec_mismatch_names_what_differs():
    assert SPEC.mismatch(StateSpec(embedding_name="test-hash", embedding_dim=16)) is None
    assert "embedding_dim" in SPEC.mismatch(StateSpec(embedding_name="test-hash", embedding_dim=32))
    assert "embedding_name" in SPEC.mismatch(StateSpec(embedding_name="other", embedding_dim=16))
    renamed = StateSpec(embedding_name="test-hash", embedding_dim=16, feature_names=("a",))
    assert "feature" in SPEC.mismatch(renamed)
