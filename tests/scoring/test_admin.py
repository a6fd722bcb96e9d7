"""The admin's model page shows each version's calibration: reliability diagram and ECE."""

from __future__ import annotations

import pytest

from scoring.ml.metrics import reliability_bins
from scoring.models import ScoringModel

pytestmark = pytest.mark.django_db


def calibrated_model() -> ScoringModel:
    y = [0, 0, 1, 1, 1, 0, 1, 1]
    raw = [0.2, 0.4, 0.9, 0.95, 0.7, 0.6, 0.8, 0.99]
    calibrated = [0.2, 0.3, 0.8, 0.85, 0.7, 0.4, 0.75, 0.9]
    return ScoringModel.objects.create(
        version="policy-test-calibrated",
        path="/nowhere",
        sha256="0" * 64,
        metrics={
            "calibration": {
                "method": "platt_by_position",
                "ece_uncalibrated": 0.1234,
                "ece_calibrated": 0.0456,
                "reliability_uncalibrated": reliability_bins(y, raw),
                "reliability_calibrated": reliability_bins(y, calibrated),
            },
            "crossval:<dond>.jsonl": {"ece": 0.0287, "reliability": reliability_bins(y, calibrated)},
        },
    )


def test_the_model_page_draws_the_reliability_diagram_and_lists_ece(admin_client):
    model = calibrated_model()
    page = admin_client.get(f"/admin/scoring/scoringmodel/{model.pk}/change/").content.decode()
    assert "<svg" in page and "Reliability diagram" in page
    assert "calibrated (platt by position)" in page
    for figure in ("0.123", "0.046", "0.029"):
        assert figure in page
    assert "crossval:&lt;dond&gt;.jsonl" in page and "<dond>" not in page  # names are escaped


def test_a_version_without_calibration_says_so(admin_client):
    model = ScoringModel.objects.create(version="policy-old", path="/nowhere", sha256="0" * 64)
    page = admin_client.get(f"/admin/scoring/scoringmodel/{model.pk}/change/").content.decode()
    assert "Not calibrated" in page


def test_the_model_page_is_for_staff_only(client, org):
    model = calibrated_model()
    client.force_login(org.rep)
    response = client.get(f"/admin/scoring/scoringmodel/{model.pk}/change/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
