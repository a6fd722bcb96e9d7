"""Team-view figures are plain data: each clickable point links to the library with its own filters."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

from coaching import charts
from coaching.filters import drill_link, query_string


def link(**params):
    return "/library/?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))


WEEKS = [
    {"week": dt.date(2026, 11, 2), "closed": 4, "won": 1, "rate": 0.25, "predicted": 0.3, "scored": 4},
    {"week": dt.date(2026, 11, 9), "closed": 2, "won": 2, "rate": 1.0, "predicted": None, "scored": 0},
]


def test_each_week_bar_links_to_that_week_s_closed_conversations():
    figure = charts.conversion_figure(WEEKS, link)
    bars = figure["data"][0]
    assert bars["y"] == [0.25, 1.0]
    assert (
        bars["customdata"][0] == "/library/?outcome=closed&started_after=2026-11-02&started_before=2026-11-08"
    )
    assert bars["text"] == ["1 of 4", "2 of 2"]


def test_predicted_vs_actual_leaves_out_weeks_without_forecasts():
    actual, predicted = charts.predicted_actual_figure(WEEKS, link)["data"]
    assert actual["x"] == predicted["x"] == ["2026-11-02"]
    assert predicted["y"] == [0.3]


def test_calibration_points_link_to_their_forecast_bin():
    bins = [{"bin": 7, "n": 10, "won": 6, "mean_p": 0.74, "rate": 0.6}]
    diagonal, points = charts.calibration_figure(bins, 10, link)["data"]
    assert diagonal["x"] == [0, 1]
    assert points["customdata"] == ["/library/?outcome=closed&pmid_max=0.8&pmid_min=0.7"]


def test_open_distribution_has_one_bar_per_bin_coloured_by_risk():
    figure = charts.open_distribution_figure([3, 0, 0, 1, 0, 0, 0, 0, 0, 2], link)
    bars = figure["data"][0]
    assert len(bars["x"]) == 10 and bars["x"][0] == "0-10%"
    assert bars["marker"]["color"][0] == charts.RED and bars["marker"]["color"][-1] == charts.GREEN
    assert bars["customdata"][-1] == "/library/?outcome=open&p_max=1.0&p_min=0.9"


def test_rep_metrics_draw_the_team_and_its_won_conversations_as_lines():
    reps = [
        {"rep__username": "rita", "n": 3, "talk_ratio": 0.7},
        {"rep__username": "raj", "n": 2, "talk_ratio": None},
    ]
    figure = charts.rep_metric_figure(
        "talk_ratio", "Talk ratio", reps, {"talk_ratio": 0.6}, {"talk_ratio": 0.5}, link
    )
    bars = figure["data"][0]
    assert bars["y"] == ["rita"] and bars["customdata"] == ["/library/?rep=rita"]
    assert [s["x0"] for s in figure["layout"]["shapes"]] == [0.6, 0.5]


def test_the_trajectory_skips_unscored_turns():
    turns = [
        {"index": 0, "speaker": "rep", "score": {"probability": 0.4, "confidence": 0.9}},
        {"index": 1, "speaker": "customer", "score": None},
        {"index": 2, "speaker": "rep", "score": {"probability": 0.6, "confidence": None}},
    ]
    trace = charts.trajectory_figure(turns)["data"][0]
    assert trace["x"] == [0, 2] and trace["y"] == [0.4, 0.6]
    assert trace["text"] == ["confidence 90%", "—"]


def test_drill_links_keep_the_page_filters_but_not_its_search():
    params = {"team": "inside", "started_after": dt.date(2026, 9, 1), "q": "price", "sort": "newest"}
    url = drill_link(params)(outcome="open", p_min=0.5, p_max=0.6)
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/library/"
    assert query == {
        "team": ["inside"],
        "outcome": ["open"],
        "started_after": ["2026-09-01"],
        "p_min": ["0.5"],
        "p_max": ["0.6"],
    }
    assert query_string({"bookmarked": False, "rep": ""}) == ""


def test_a_point_narrows_the_page_filters_and_never_widens_them():
    params = {"started_after": dt.date(2026, 9, 10), "started_before": dt.date(2026, 11, 4), "outcome": "won"}
    link_ = drill_link(params)
    query = parse_qs(
        urlsplit(link_(outcome="closed", started_after="2026-09-07", started_before="2026-09-13")).query
    )
    assert query["started_after"] == ["2026-09-10"]  # the bar counted from the page's first day
    assert query["started_before"] == ["2026-09-13"]
    assert query["outcome"] == ["won"]
    last = parse_qs(urlsplit(link_(started_after="2026-11-02", started_before="2026-11-08")).query)
    assert last["started_before"] == ["2026-11-04"]


def test_axis_titles_are_objects_and_labels_get_room():
    layout = charts.conversion_figure(WEEKS, link)["layout"]
    assert layout["yaxis"]["title"] == {"text": "converted"} and layout["yaxis"]["automargin"] is True


def test_small_counts_get_whole_ticks():
    use = {"followed": 1, "ignored": 2, "followed_rate": 0.5, "ignored_rate": None}
    assert charts.guidance_figure(use)["layout"]["yaxis"]["dtick"] == 1
    assert (
        "dtick"
        not in charts.open_distribution_figure([40, 0, 0, 0, 0, 0, 0, 0, 0, 1], link)["layout"]["yaxis"]
    )
