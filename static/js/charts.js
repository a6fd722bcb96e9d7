// Team views: draws the server's plotly figures and follows a clicked point to its conversations.
// Figures come from the API (data-figures-url on #dashboard, into [data-chart] by name) or inline
// (data-figure="<json_script id>"). Each point's customdata is a library URL.
(function () {
  "use strict";
  const config = { displayModeBar: false, responsive: true };

  function draw(element, figure) {
    if (!window.Plotly || !figure) return;
    // The figures arrive complete (coaching/charts.py sets titles, margins and hover text).
    window.Plotly.react(element, figure.data, figure.layout, config).then(function () {
      element.dataset.drawn = "true";
    });
    element.on("plotly_click", function (event) {
      const point = event.points && event.points[0];
      if (point && typeof point.customdata === "string") window.location.href = point.customdata;
    });
  }

  function pct(value) {
    return value === null || value === undefined ? "—" : Math.round(value * 100) + "%";
  }

  function tile(label, value, note) {
    const div = document.createElement("div");
    div.className = "kpi";
    const strong = document.createElement("strong");
    strong.textContent = value;
    const span = document.createElement("span");
    span.textContent = label;
    div.append(strong, span);
    if (note) {
      const small = document.createElement("small");
      small.textContent = note;
      div.append(small);
    }
    return div;
  }

  function renderKpis(payload) {
    const box = document.getElementById("kpis");
    if (!box) return;
    const k = payload.kpis;
    const tiles = [
      tile("conversations", String(k.total)),
      tile("converted", pct(k.conversion_rate), k.won + " of " + k.closed + " closed"),
      tile("open now", String(k.open), k.open_probability === null ? "" : "mean " + pct(k.open_probability)),
      tile("forecast at midpoint", pct(k.predicted), k.brier === null ? "" : "Brier " + k.brier.toFixed(3)),
    ];
    if (k.ece !== undefined) {
      tiles.push(tile("calibration error", k.ece === null ? "—" : (k.ece * 100).toFixed(1) + " pts",
        k.calibrated_conversations + " closed, scored"));
    }
    if (payload.guidance) {
      const g = payload.guidance;
      tiles.push(tile("guidance followed", g.shown ? pct(g.followed / g.shown) : "—", g.followed + " of " + g.shown + " cards"));
    }
    box.replaceChildren.apply(box, tiles);
    const reps = document.getElementById("rep-links");
    if (reps && payload.reps) {
      reps.replaceChildren.apply(reps, payload.reps.map(function (rep) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/dashboard/reps/" + encodeURIComponent(rep.rep__username) + "/";
        a.textContent = rep.rep__username;
        li.append(a, " · " + rep.n + " conversations, " + (rep.closed ? pct(rep.won / rep.closed) : "—") + " converted");
        return li;
      }));
    }
  }

  async function load(root) {
    const response = await fetch(root.dataset.figuresUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      document.getElementById("kpis").textContent = "Could not load the charts (" + response.status + ").";
      return;
    }
    const payload = await response.json();
    renderKpis(payload);
    for (const element of root.querySelectorAll("[data-chart]")) draw(element, payload.figures[element.dataset.chart]);
    root.dataset.loaded = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const element of document.querySelectorAll("[data-figure]")) {
      const source = document.getElementById(element.dataset.figure);
      if (source) draw(element, JSON.parse(source.textContent));
    }
    const root = document.getElementById("dashboard");
    if (root && root.dataset.figuresUrl) load(root);
  });
})();
