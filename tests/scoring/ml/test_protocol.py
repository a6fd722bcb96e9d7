"""The evaluation protocol: honest cut, splits by conversation, prefix positions, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scoring.ml.protocol import (
    BUCKETS,
    EvalRows,
    HonestConversation,
    assemble_report,
    bucket_masks,
    confidence_auroc,
    drop_last_for,
    honest_turns,
    kfold_by_conversation,
    load_jsonl,
    prefix_positions,
    usable,
)

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def _turns(n: int) -> list[dict]:
    return [{"speaker": "rep" if i % 2 == 0 else "customer", "text": f"t{i}"} for i in range(n)]


def _record(
    i: int, n: int, converted: bool | None = True, leak: int | None = None, source: str = "x"
) -> dict:
    meta = {} if leak is None else {"leak_turn": leak}
    return {"id": f"c{i}", "source": source, "turns": _turns(n), "converted": converted, "meta": meta}


# ----------------------------------------------------------------------------------------------- records


def test_load_jsonl_skips_blank_lines_and_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(_record(0, 2)) + "\n\n   \n" + json.dumps(_record(1, 3)) + "\n")
    assert [r["id"] for r in load_jsonl(good)] == ["c0", "c1"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_record(0, 2)) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: invalid JSON"):
        load_jsonl(bad)
    array = tmp_path / "array.jsonl"
    array.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"array\.jsonl:1: expected a JSON object"):
        load_jsonl(array)


def test_honest_turns_cut_at_the_leak() -> None:
    record = _record(0, 6, leak=4)
    assert [t["text"] for t in honest_turns(record)] == ["t0", "t1", "t2", "t3"]
    assert [t["text"] for t in honest_turns(record, drop_last=True)] == ["t0", "t1", "t2"]
    assert len(honest_turns(_record(0, 6))) == 6  # no leak_turn: every turn
    assert len(honest_turns(_record(0, 6), drop_last=True)) == 5
    assert honest_turns(_record(0, 6, leak=0)) == []
    assert honest_turns({"turns": _turns(3), "meta": {"leak_turn": None}}) == _turns(3)
    record_turns = record["turns"]
    honest_turns(record, drop_last=True).clear()
    assert len(record_turns) == 6  # the record is never modified


def test_drop_last_only_for_dealornodeal() -> None:
    assert drop_last_for("dealornodeal")
    assert drop_last_for(Path("/data/dealornodeal.jsonl"))
    assert drop_last_for("Deal_or_No_Deal")
    assert not drop_last_for("casino.jsonl")
    assert not drop_last_for(Path("/x/persuasionforgood-dev.jsonl"))


def test_usable_needs_an_outcome_and_honest_turns() -> None:
    records = [
        _record(0, 5, leak=3),
        _record(1, 5, leak=1),  # one honest turn
        _record(2, 5, leak=0),  # none
        _record(3, 5, converted=None),  # no outcome
        _record(4, 2, converted=False, source="dealornodeal"),  # drop_last=None: 1 turn left
    ]
    assert [c.id for c in usable(records)] == ["c0", "c1", "c4"]
    assert [c.id for c in usable(records, min_turns=2)] == ["c0", "c4"]
    assert [c.id for c in usable(records, drop_last=None, min_turns=2)] == ["c0"]
    kept = usable(records)[0]
    assert isinstance(kept, HonestConversation) and kept.label == 1 and len(kept.turns) == 3
    assert usable(records)[2].label == 0


@pytest.mark.skipif(not DATA.is_dir(), reason="shared/data (development sets) not present")
def test_usable_counts_of_the_development_sets() -> None:
    counts = {}
    for name in ("persuasionforgood-dev", "dealornodeal", "casino"):
        records = load_jsonl(DATA / f"{name}.jsonl")
        counts[name] = len(usable(records, drop_last=drop_last_for(name), min_turns=2))
    # README: 289 / 3,248 / 1,030. DealOrNoDeal gives 3,224 with this file (see the module docs).
    assert counts["persuasionforgood-dev"] == 289
    assert counts["casino"] == 1030
    assert abs(counts["dealornodeal"] - 3248) <= 0.01 * 3248


# ----------------------------------------------------------------------------------------------- splits


def test_kfold_is_disjoint_covering_and_stratified() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(103) < 0.3).astype(int)
    folds = kfold_by_conversation(103, 5, seed=7, labels=labels)
    assert len(folds) == 5
    tests = [test for _, test in folds]
    assert sorted(np.concatenate(tests).tolist()) == list(range(103))  # each tested exactly once
    for train, test in folds:
        assert not set(train) & set(test)
        assert len(train) + len(test) == 103
        assert abs(len(test) - 103 / 5) <= 1
        assert abs(labels[test].sum() - labels.sum() / 5) <= 1  # stratified
    again = kfold_by_conversation(103, 5, seed=7, labels=labels)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = kfold_by_conversation(103, 5, seed=8, labels=labels)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_kfold_by_groups_keeps_groups_whole() -> None:
    rng = np.random.default_rng(2)
    groups = rng.integers(0, 23, size=200)
    labels = (rng.random(200) < 0.4).astype(int)
    folds = kfold_by_conversation(200, 4, seed=0, labels=labels, groups=groups)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(200))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert 20 <= len(test) <= 80  # balanced enough


def test_kfold_rejects_impossible_splits() -> None:
    with pytest.raises(ValueError):
        kfold_by_conversation(3, 5)
    with pytest.raises(ValueError):
        kfold_by_conversation(10, 5, groups=[0, 1] * 5)


# ----------------------------------------------------------------------------------------------- prefixes


def test_prefix_positions() -> None:
    assert prefix_positions(1) == {"25%": 1, "50%": 1, "75%": 1, "100%": 1}
    assert prefix_positions(4) == {"25%": 1, "50%": 2, "75%": 3, "100%": 4}
    assert prefix_positions(10) == {"25%": 3, "50%": 5, "75%": 8, "100%": 10}
    assert prefix_positions(7) == {"25%": 2, "50%": 4, "75%": 6, "100%": 7}
    for n in range(1, 60):
        positions = [prefix_positions(n)[b] for b in BUCKETS]
        assert positions == sorted(positions) and 1 <= positions[0] and positions[-1] == n
    with pytest.raises(ValueError):
        prefix_positions(0)


def test_eval_rows_one_row_per_prefix_and_one_per_bucket() -> None:
    conversations = [(_turns(n), n % 2) for n in (1, 2, 5, 8)]
    rows = EvalRows.build(conversations, lambda turns: np.linspace(0.1, 0.9, len(turns)))
    assert len(rows) == 1 + 2 + 5 + 8 and rows.n_conversations == 4
    assert rows.length.tolist()[:3] == [1, 1, 2]
    assert rows.y.tolist()[:3] == [1.0, 0.0, 0.0]
    buckets = rows.buckets
    for c, (turns, _) in enumerate(conversations):
        mine = rows.conversation == c
        for j, name in enumerate(BUCKETS):
            assert buckets[mine, j].sum() == 1  # exactly one scored prefix per bucket
            assert rows.length[mine][buckets[mine, j]][0] == prefix_positions(len(turns))[name]
    same = EvalRows.from_flat([1, 0, 1, 0], [1, 2, 5, 8], rows.p)
    assert np.array_equal(same.buckets, buckets) and np.array_equal(same.y, rows.y)
    with pytest.raises(ValueError, match="probabilities"):
        EvalRows.build(conversations, lambda turns: [0.5])
    both = EvalRows.concatenate([rows, rows])
    assert both.n_conversations == 8 and len(both) == 2 * len(rows)


def test_bucket_masks_accept_labels_or_matrix() -> None:
    masks = bucket_masks(np.array(["25%", "", "100%", "25%"]), 4)
    assert masks["25%"].tolist() == [True, False, False, True] and not masks["50%"].any()
    matrix = np.zeros((2, 4), bool)
    matrix[0, :] = True
    assert bucket_masks(matrix, 2)["75%"].tolist() == [True, False]
    with pytest.raises(ValueError):
        bucket_masks(matrix, 3)


# ----------------------------------------------------------------------------------------------- report


def _rows(seed: int = 0, n: int = 60) -> EvalRows:
    rng = np.random.default_rng(seed)
    conversations = [(_turns(int(rng.integers(1, 12))), int(rng.random() < 0.5)) for _ in range(n)]
    # Scores unrelated to the outcome: the uninformative "baseline" of the report tests.
    return EvalRows.build(
        conversations,
        lambda turns: np.clip(0.5 + rng.normal(0, 0.15, len(turns)), 0, 1),
    )


def test_assemble_report_has_the_promised_keys() -> None:
    rows = _rows()
    signal = np.where(rows.y == 1, 0.7, 0.3) + np.random.default_rng(1).normal(0, 0.15, len(rows))
    model = rows.with_p(np.clip(signal, 0.01, 0.99))
    confidence = np.abs(model.p - 0.5)
    report = model.report(baseline=rows, confidence=confidence, model={"version": "v1"}, data={"file": "x"})
    for key in (
        "auc",
        "brier",
        "log_loss",
        "ece",
        "accuracy",
        "n_conversations",
        "n_prefixes",
        "by_position",
        "baseline",
        "confidence_auroc",
        "model",
        "data",
        "protocol",
    ):
        assert key in report
    assert report["n_conversations"] == 60 and report["n_prefixes"] == len(rows)
    assert set(report["by_position"]) == set(BUCKETS)
    for block in report["by_position"].values():
        assert {"auc", "brier", "log_loss", "ece", "accuracy", "n"} <= set(block)
        assert block["n"] == 60  # one prefix per conversation per bucket
    assert {"auc", "brier", "ece", "by_position"} <= set(report["baseline"])
    assert report["auc"] > 0.85 > report["baseline"]["auc"]
    assert report["confidence_auroc"] > 0.6  # far from 0.5 = more often right
    assert report["model"] == {"version": "v1"} and report["data"] == {"file": "x"}
    assert report["protocol"]["buckets"] == list(BUCKETS)
    json.dumps(report, allow_nan=False)


def test_assemble_report_from_plain_arrays() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.6, 0.4, 0.8, 0.1])
    buckets = np.array(["25%", "25%", "", "", "100%", "100%"])
    report = assemble_report(y, p, buckets, protocol={"k": 5})
    assert report["baseline"] is None and report["confidence_auroc"] is None
    assert report["n_conversations"] == 2  # counted from the 100 % rows
    assert report["by_position"]["50%"]["n"] == 0 and report["by_position"]["50%"]["auc"] is None
    assert report["protocol"]["k"] == 5
    assert report["auc"] == 1.0 and report["accuracy"] == 1.0
    with pytest.raises(ValueError, match="same rows"):
        assemble_report(y, p, buckets, baseline_p=p[:3])
    json.dumps(report, allow_nan=False)


def test_confidence_auroc() -> None:
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.4, 0.1, 0.6])  # right, wrong, right, wrong
    assert confidence_auroc(y, p, [0.9, 0.1, 0.8, 0.2]) == 1.0
    assert confidence_auroc(y, p, [0.1, 0.9, 0.2, 0.8]) == 0.0
    assert confidence_auroc([1, 0], [0.9, 0.1], [0.5, 0.6]) is None  # never wrong: undefined
