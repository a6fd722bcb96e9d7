"""The TF-IDF + logistic regression baseline, its cross-validation, and the reliability HTML page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scoring.ml.baseline import all_prefix_texts, prefix_text, training_prefixes
from scoring.ml.protocol import BUCKETS, EvalRows
from scoring.ml.report import write_reliability_html

pytest.importorskip("sklearn")

FILLER = [
    "hello there",
    "what do you need",
    "tell me more",
    "we have options",
    "how does it work",
    "sure thing",
]


def _conversation(rng: np.random.Generator, converted: bool, n: int) -> list[dict]:
    """Filler turns, plus from turn 2 on a customer turn that gives the outcome away."""
    turns = []
    for i in range(n):
        speaker = "rep" if i % 2 == 0 else "customer"
        text = str(rng.choice(FILLER))
        if speaker == "customer" and i >= 1:
            text += " sounds great lets sign" if converted else " too expensive not interested"
        turns.append({"speaker": speaker, "text": text})
    return turns


def _records(n: int = 60, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        converted = bool(i % 2)
        turns = _conversation(rng, converted, int(rng.integers(3, 9)))
        records.append(
            {"id": f"s{i}", "turns": turns, "converted": converted, "meta": {"leak_turn": len(turns)}}
        )
    return records


def test_prefix_text_tags_speakers() -> None:
    turns = [{"speaker": "rep", "text": "Hi"}, {"speaker": "customer", "text": "Hello"}]
    assert prefix_text(turns) == "rep: Hi\ncustomer: Hello"
    assert all_prefix_texts(turns) == [prefix_text(turns[:1]), prefix_text(turns)]
    assert prefix_text([]) == ""


def test_training_prefixes_weigh_conversations_equally() -> None:
    short = [{"speaker": "rep", "text": "a"}, {"speaker": "customer", "text": "b"}]
    long = [{"speaker": "rep" if i % 2 == 0 else "customer", "text": f"w{i}"} for i in range(8)]
    texts, labels, weights = training_prefixes([(short, True), (long, False)])
    assert len(texts) == 10
    assert texts[:2] == all_prefix_texts(short) and texts[2:] == all_prefix_texts(long)
    assert labels.tolist() == [1, 1] + [0] * 8
    assert weights[:2].sum() == pytest.approx(weights[2:].sum())  # each conversation weighs the same
    assert weights.mean() == pytest.approx(1.0)  # scaled so regularisation keeps its meaning


def test_baseline_learns_an_obvious_signal() -> None:
    from scoring.ml.baseline import TfidfLogisticBaseline
    from scoring.ml.metrics import roc_auc
    from scoring.ml.protocol import usable

    train = usable(_records(60, seed=0))
    test = usable(_records(30, seed=1))
    baseline = TfidfLogisticBaseline().fit_conversations(train)
    rows = baseline.score_conversations(test)
    assert isinstance(rows, EvalRows) and len(rows) == sum(len(c.turns) for c in test)
    informative = rows.length >= 2  # the first turn (the rep's) says nothing
    assert roc_auc(rows.y[informative], rows.p[informative]) > 0.95
    assert np.all((rows.p >= 0) & (rows.p <= 1))


def test_baseline_with_one_outcome_predicts_it() -> None:
    from scoring.ml.baseline import TfidfLogisticBaseline

    baseline = TfidfLogisticBaseline().fit(["a b", "a c", "b c"], [1, 1, 1])
    assert baseline.predict_proba(["anything", "else"]).tolist() == [1.0, 1.0]


def test_crossval_baseline_runs_the_protocol() -> None:
    from scoring.ml.baseline import crossval_baseline

    records = _records(50)
    records.append(
        {
            "id": "empty",
            "turns": _conversation(np.random.default_rng(0), True, 4),
            "converted": True,
            "meta": {"leak_turn": 0},
        }
    )
    report = crossval_baseline(records, k=5, seed=0, progress=False)
    assert report["usable"] == 50 and report["n_conversations"] == 50
    assert report["n_prefixes"] == sum(len(r["turns"]) for r in records[:50])
    assert set(report["by_position"]) == set(BUCKETS)
    assert report["by_position"]["100%"]["auc"] > 0.95
    assert report["by_position"]["100%"]["n"] == 50
    assert report["auc_bucket_prefixes"] is not None
    json.dumps(report, allow_nan=False)
    dropped = crossval_baseline(records, k=5, drop_last=True, progress=False)
    assert dropped["n_prefixes"] == report["n_prefixes"] - 50


def test_reliability_html_has_model_and_baseline(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.5).astype(float)
    rows = EvalRows.from_flat(y[:100], [4] * 100, np.clip(np.repeat(y[:100], 4) * 0.6 + 0.2, 0, 1))
    report = rows.report(baseline=rng.random(len(rows)), confidence=rng.random(len(rows)))
    path = write_reliability_html(tmp_path / "out" / "report.html", {"SalesRL v1": report})
    page = path.read_text(encoding="utf-8")
    assert path.exists() and page.startswith("<!DOCTYPE html>")
    assert "SalesRL v1" in page and "TF-IDF baseline" in page
    assert "perfect calibration" in page
    assert "cdn.plot.ly" not in page.split("<script", 2)[1][:200]  # plotly.js is embedded, not fetched
    assert len(page) > 1_000_000  # the embedded plotly.js bundle
