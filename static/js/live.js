// Live conversation page: snapshot + websocket events -> transcript, probability and chart.
(function () {
  "use strict";

  const root = document.getElementById("live");
  const conversationId = root.dataset.conversation;
  const els = {
    probability: document.getElementById("probability"),
    delta: document.getElementById("probability-delta"),
    status: document.getElementById("status"),
    connection: document.getElementById("connection"),
    note: document.getElementById("model-note"),
    confidence: document.getElementById("confidence"),
    confidenceReasons: document.getElementById("confidence-reasons"),
    chart: document.getElementById("trajectory"),
    transcript: document.getElementById("transcript"),
    turnCount: document.getElementById("turn-count"),
    form: document.getElementById("turn-form"),
    speaker: document.getElementById("speaker"),
    text: document.getElementById("turn-text"),
    formError: document.getElementById("form-error"),
  };
  const state = { conversation: null, turns: new Map(), pendingScores: new Map() };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function pct(p) {
    return (p * 100).toFixed(0) + "%";
  }

  function sortedTurns() {
    return Array.from(state.turns.values()).sort((a, b) => a.index - b.index);
  }

  function renderTranscript(turns) {
    const fragment = document.createDocumentFragment();
    for (const turn of turns) {
      const li = document.createElement("li");
      li.className = "turn turn-" + turn.speaker;
      li.dataset.index = turn.index;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = turn.speaker === "rep" ? "Rep" : "Customer";
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = turn.text;
      li.append(who, text);
      if (turn.score && turn.score.probability !== null) {
        const p = document.createElement("span");
        p.className = "turn-p";
        p.title = "Probability after this turn";
        p.textContent = pct(turn.score.probability);
        li.append(p);
      }
      fragment.append(li);
    }
    const atBottom =
      els.transcript.scrollTop + els.transcript.clientHeight >= els.transcript.scrollHeight - 20;
    els.transcript.replaceChildren(fragment);
    if (atBottom) els.transcript.scrollTop = els.transcript.scrollHeight;
    els.turnCount.textContent = "(" + turns.length + " turns)";
  }

  function renderProbability(turns) {
    const scored = turns.filter((t) => t.score && t.score.probability !== null);
    const latest = scored[scored.length - 1];
    const previous = scored[scored.length - 2];
    els.probability.textContent = latest ? pct(latest.score.probability) : "—";
    if (latest && previous) {
      const d = (latest.score.probability - previous.score.probability) * 100;
      els.delta.textContent = (d >= 0 ? "+" : "−") + Math.abs(d).toFixed(1) + " pts";
      els.delta.dataset.direction = d > 0.05 ? "up" : d < -0.05 ? "down" : "flat";
    } else {
      els.delta.textContent = "";
    }
    const lastScore = turns.length ? (turns[turns.length - 1].score || (latest && latest.score)) : null;
    if (lastScore && lastScore.details && lastScore.details.kind === "baseline") {
      const d = lastScore.details;
      els.note.textContent =
        d.basis === "none"
          ? "No model trained yet, and no closed conversations to compute a conversion rate from: no probability is shown."
          : d.note && d.note.indexOf("cannot serve") >= 0
          ? d.note + " The line shows the " + d.basis + "'s historical conversion rate instead."
          : "No model trained yet: the line is the " + d.basis + "'s historical conversion rate (" +
            d.closed_conversations + " closed conversations), not a prediction for this conversation. Confidence: 0.";
      els.note.hidden = false;
      els.note.dataset.kind = "baseline";
    } else if (lastScore && lastScore.details && lastScore.details.kind === "model") {
      els.note.textContent =
        "Model " + lastScore.model_version + calibrationNote(lastScore.details.calibration) +
        " · ensemble spread on this turn: " +
        (lastScore.details.ensemble_spread * 100).toFixed(1) + " pts.";
      els.note.hidden = false;
      els.note.dataset.kind = "model";
    } else {
      els.note.hidden = true;
    }
    renderConfidence(latest ? latest.score : null);
  }

  function calibrationNote(method) {
    if (!method) return "";
    if (method === "identity") return " · calibration checked (it left the probabilities as they were)";
    return " · calibrated (" + method.replace(/_/g, " ") + ")";
  }

  // Confidence: the probability that the prediction is on the right side of 50 %; it follows the score
  // as a second update (a neighbour search), so "estimating…" shows in between.
  function renderConfidence(score) {
    const details = score && score.details ? score.details : {};
    const info = details.confidence;
    els.confidence.dataset.level = "none";
    els.confidenceReasons.replaceChildren();
    if (score && score.confidence !== null && info) {
      els.confidence.textContent = pct(score.confidence) + (info.low ? " · low" : "");
      els.confidence.dataset.level = info.low ? "low" : "ok";
      els.confidence.title =
        "Chance that the prediction is on the right side of 50% (band " + pct(info.band[0]) + "–" + pct(info.band[1]) + ")";
      for (const reason of info.low ? info.reasons : []) {
        const li = document.createElement("li");
        li.textContent = reason;
        els.confidenceReasons.append(li);
      }
    } else if (score && details.confidence_pending) {
      els.confidence.textContent = "estimating…";
      els.confidence.dataset.level = "pending";
    } else if (score && details.kind === "baseline") {
      els.confidence.textContent = "0% · no model";
      els.confidence.dataset.level = "low";
    } else {
      els.confidence.textContent = "—";
    }
    els.confidenceReasons.hidden = !els.confidenceReasons.children.length;
  }

  function renderChart(turns) {
    if (!window.Plotly) return;
    const scored = turns.filter((t) => t.score && t.score.probability !== null);
    const info = (t) => (t.score.details && t.score.details.confidence) || null;
    const trace = {
      x: scored.map((t) => t.index + 1),
      y: scored.map((t) => t.score.probability * 100),
      text: scored.map((t) => (t.speaker === "rep" ? "Rep: " : "Customer: ") + t.text.slice(0, 80)),
      customdata: scored.map((t) => (t.score.confidence === null ? "…" : pct(t.score.confidence))),
      hovertemplate: "Turn %{x}: %{y:.0f}% (confidence %{customdata})<br>%{text}<extra></extra>",
      mode: "lines+markers",
      line: { color: "#2563eb", width: 2 },
      // Hollow markers: low confidence.
      marker: {
        size: 8,
        color: scored.map((t) => (info(t) && info(t).low ? "#ffffff" : "#2563eb")),
        line: { color: "#2563eb", width: 2 },
      },
      name: "Probability",
    };
    // The confidence band (the ensemble's spread, widened when the conversation is unlike training).
    const banded = scored.filter(info);
    const bandEdge = (end, style) =>
      Object.assign(
        {
          x: banded.map((t) => t.index + 1),
          y: banded.map((t) => info(t).band[end] * 100),
          mode: "lines",
          line: { width: 0 },
          hoverinfo: "skip",
          name: end ? "band-high" : "band-low",
        },
        style
      );
    const upper = bandEdge(1, {});
    const lower = bandEdge(0, { fill: "tonexty", fillcolor: "rgba(37, 99, 235, 0.15)" });
    const layout = {
      margin: { l: 48, r: 16, t: 8, b: 40 },
      xaxis: { title: { text: "Turn" }, dtick: 1, rangemode: "tozero" },
      yaxis: { title: { text: "Conversion probability (%)" }, range: [0, 100] },
      showlegend: false,
      height: 300,
    };
    window.Plotly.react(els.chart, [upper, lower, trace], layout, { displayModeBar: false, responsive: true });
    els.chart.dataset.points = String(scored.length);
    els.chart.dataset.banded = String(banded.length);
  }

  function render() {
    const turns = sortedTurns();
    renderTranscript(turns);
    renderProbability(turns);
    renderChart(turns);
    const status = state.conversation ? state.conversation.status : "open";
    els.status.textContent = status.charAt(0).toUpperCase() + status.slice(1);
    els.status.className = "badge badge-" + status;
    els.form.hidden = status !== "open";
  }

  function applySnapshot(conversation) {
    state.conversation = conversation;
    state.turns = new Map(conversation.turns.map((t) => [t.index, t]));
    for (const [index, score] of state.pendingScores) {
      if (state.turns.has(index) && !state.turns.get(index).score) state.turns.get(index).score = score;
    }
    state.pendingScores.clear();
  }

  function applyEvent(event) {
    if (event.type === "snapshot") {
      applySnapshot(event.conversation);
    } else if (event.type === "turn") {
      const known = state.turns.get(event.turn.index) || {};
      const score = known.score || state.pendingScores.get(event.turn.index) || event.turn.score;
      state.turns.set(event.turn.index, Object.assign({}, event.turn, { score: score }));
      state.pendingScores.delete(event.turn.index);
    } else if (event.type === "score" || event.type === "confidence") {
      const turn = state.turns.get(event.turn_index);
      // A score may overtake its turn's own event; keep it until the turn arrives.
      if (turn) turn.score = event.score;
      else state.pendingScores.set(event.turn_index, event.score);
    } else if (event.type === "status" && state.conversation) {
      state.conversation.status = event.status;
    } else {
      return;
    }
    render();
  }

  function setConnection(stateName, label) {
    els.connection.dataset.state = stateName;
    els.connection.textContent = label;
  }

  let retryDelay = 1000;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/conversations/" + conversationId + "/");
    socket.onopen = function () {
      retryDelay = 1000;
      setConnection("live", "live");
    };
    socket.onmessage = function (message) {
      const event = JSON.parse(message.data);
      applyEvent(event);
      // Other panels (guidance.js) follow the same stream without a second socket.
      document.dispatchEvent(new CustomEvent("salesrl:event", { detail: event }));
    };
    socket.onclose = function (event) {
      if (event.code === 4403) {
        setConnection("closed", "not allowed");
        return;
      }
      // Reconnect with back-off; the server sends a fresh snapshot on every connect (backfill).
      const seconds = Math.round(retryDelay / 1000);
      setConnection("reconnecting", "reconnecting in " + seconds + "s");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  function showError(message) {
    els.formError.textContent = message;
    els.formError.hidden = !message;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const err = data.error || {};
      const fields = Object.entries(err.details || {})
        .map(([k, v]) => k + ": " + (Array.isArray(v) ? v.join(" ") : v))
        .join("; ");
      throw new Error((err.message || "Request failed (" + response.status + ")") + (fields ? " " + fields : ""));
    }
    return data;
  }

  els.form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = els.text.value.trim();
    if (!text) return;
    showError("");
    const key = window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    try {
      const turn = await post(root.dataset.turnsUrl, { speaker: els.speaker.value, text: text, client_key: key });
      applyEvent({ type: "turn", turn: turn });
      els.text.value = "";
      els.speaker.value = els.speaker.value === "rep" ? "customer" : "rep";
      els.text.focus();
    } catch (error) {
      showError(error.message);
    }
  });
  els.text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) els.form.requestSubmit();
  });
  for (const button of els.form.querySelectorAll("[data-outcome]")) {
    button.addEventListener("click", async function () {
      showError("");
      try {
        const conversation = await post(root.dataset.closeUrl, { outcome: button.dataset.outcome });
        applyEvent({ type: "status", status: conversation.status });
      } catch (error) {
        showError(error.message);
      }
    });
  }

  applySnapshot(JSON.parse(document.getElementById("snapshot").textContent));
  render();
  connect();
})();
