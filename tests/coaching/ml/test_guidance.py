"""The guidance policy: decision states, λ-returns, the Q ensemble recovering a known advantage, the
advice's thin / unclear / ok states, and its files."""

from __future__ import annotations

import numpy as np
import pytest

from coaching.ml.guidance import (
    ACTS,
    DECISION_FEATURES,
    MIN_SUPPORT,
    GuidanceModel,
    decision_features,
    objection_pending,
)
from coaching.ml.guidance_train import Decisions, fit_guidance, lambda_returns

TURNS = [
    {"speaker": "rep", "text": "Hi Dana, what made you look at scheduling tools?"},
    {"speaker": "customer", "text": "Honestly it's too expensive compared to what we pay now."},
]


def test_decision_state_reads_only_the_prefix_and_the_pending_objection() -> None:
    state = decision_features(TURNS, ["discovery_question", None], 0.3)
    assert state.shape == (len(DECISION_FEATURES),)
    named = dict(zip(DECISION_FEATURES, state.tolist(), strict=True))
    assert named["probability"] == pytest.approx(0.3)
    assert named["count_discovery_question"] == pytest.approx(1 / 3)
    assert named["last_act_discovery_question"] == 1.0
    assert named["customer_spoke_last"] == 1.0
    assert named["last_customer_objection"] == 1.0
    assert named["objection_pending"] == 1.0
    assert named["bucket_1"] == 1.0  # the next turn is index 2
    answered = [*TURNS, {"speaker": "rep", "text": "Fair point, let me show what it saves."}]
    assert not objection_pending(answered, ["discovery_question", None, "objection_handling"])
    assert objection_pending(answered, ["discovery_question", None, "value_statement"])
    empty = decision_features([], [], 0.4)
    assert dict(zip(DECISION_FEATURES, empty.tolist(), strict=True))["bucket_0"] == 1.0


def test_lambda_returns_mix_next_values_and_end_in_the_outcome() -> None:
    returns = lambda_returns([0.5, 0.2], 1.0, 0.5)
    assert returns[-1] == 1.0
    assert returns[1] == pytest.approx(0.5 * 0.2 + 0.5 * 1.0)
    assert returns[0] == pytest.approx(0.5 * 0.5 + 0.5 * returns[1])
    assert lambda_returns([], 0.0, 0.7).tolist() == [0.0]


def synthetic_decisions(n_conv: int = 1500, seed: int = 0) -> Decisions:
    """Decisions where social proof raises conversion by 25 points when the customer objected, pricing
    lowers it by 20 points, and everything else does nothing."""
    rng = np.random.default_rng(seed)
    states, acts, targets, owners, indexes = [], [], [], [], []
    for c in range(n_conv):
        for k in range(4):
            objected = rng.random() < 0.5
            turns = [
                {"speaker": "rep", "text": "Tell me about your team."},
                {
                    "speaker": "customer",
                    "text": "It's too expensive for us." if objected else "We have twelve people.",
                },
            ]
            state = decision_features(turns, ["discovery_question", None], 0.4)
            act = int(rng.integers(len(ACTS)))
            p = (
                0.4
                + (0.25 if objected and ACTS[act] == "social_proof" else 0)
                - (0.2 if ACTS[act] == "pricing" else 0)
            )
            states.append(state)
            acts.append(act)
            targets.append(float(rng.random() < p))
            owners.append(c)
            indexes.append(2 + 2 * k)
    return Decisions(
        states=np.stack(states),
        acts=np.asarray(acts),
        targets=np.asarray(targets, dtype=np.float32),
        conversation=np.asarray(owners),
        turn_index=np.asarray(indexes),
        prior=0.4,
        conversations=n_conv,
    )


@pytest.fixture(scope="module")
def fitted() -> GuidanceModel:
    return fit_guidance(synthetic_decisions(), scoring_version="test", epochs=25, progress=False)


def test_the_q_ensemble_recovers_the_planted_advantages(fitted: GuidanceModel) -> None:
    objected = decision_features(
        [
            {"speaker": "rep", "text": "Tell me about your team."},
            {"speaker": "customer", "text": "It's too expensive for us."},
        ],
        ["discovery_question", None],
        0.4,
    )
    advice = fitted.advise(objected, turn_index=2, objection=True)
    assert advice.status == "ok"
    assert advice.top_act == "social_proof"
    top = advice.recommendations[0]
    assert 0.1 < top.advantage < 0.4
    assert top.low > 0 and top.support >= MIN_SUPPORT
    assert "points more often" in top.sentence
    assert advice.avoid is not None and advice.avoid.act == "pricing"
    calm = decision_features(
        [
            {"speaker": "rep", "text": "Tell me about your team."},
            {"speaker": "customer", "text": "We have twelve people."},
        ],
        ["discovery_question", None],
        0.4,
    )
    # Without the objection nothing helps: no act may be recommended with confidence.
    assert fitted.advise(calm, turn_index=2).top_act in (None, "social_proof")
    assert fitted.meta["held_out"]["q_log_loss"] < fitted.meta["held_out"]["v_log_loss"]


def test_thin_data_says_so_instead_of_guessing(fitted: GuidanceModel) -> None:
    late = decision_features(TURNS, ["discovery_question", None], 0.4)
    # Turn 40 is in the last position bucket, where the training decisions never went.
    advice = fitted.advise(late, turn_index=40, objection=True)
    assert advice.status == "thin"
    assert advice.recommendations == ()
    assert "no recommendation" in advice.message


def test_files_round_trip_and_refuse_tampering(fitted: GuidanceModel, tmp_path) -> None:
    folder = fitted.write(tmp_path / "g")
    loaded = GuidanceModel.read(folder)
    x = decision_features(TURNS, ["discovery_question", None], 0.4)
    q1, v1 = fitted.outputs(x)
    q2, v2 = loaded.outputs(x)
    np.testing.assert_allclose(q1, q2, rtol=1e-6)
    np.testing.assert_allclose(v1, v2, rtol=1e-6)
    assert loaded.version == fitted.version
    (folder / "guidance.npz").write_bytes(b"broken")
    with pytest.raises(ValueError, match="sha256"):
        GuidanceModel.read(folder)
