// Live wall: open conversations sorted by their recent fall in probability, kept current by the feed.
// The recent fall is the highest of the last RECENT_TURNS + 1 scored probabilities minus the latest
// one: coaching/summaries.py computes the same for the first render.
(function () {
  "use strict";
  const table = document.getElementById("wall");
  const body = document.getElementById("wall-rows");
  const empty = document.getElementById("wall-empty");
  const status = document.getElementById("wall-status");
  const window_ = Number(table.dataset.recentTurns) + 1;
  const rows = new Map(); // conversation id -> row data
  const outside = new Set(); // ids the server did not list (another team, closed): ignore their events
  let refetchTimer = null;
  let retryDelay = 1000;

  function pct(p) {
    return p === null || p === undefined ? "—" : Math.round(p * 100) + "%";
  }

  function recentDrop(points) {
    if (!points.length) return null;
    const values = points.map((p) => p[1]);
    return Math.max.apply(null, values) - values[values.length - 1];
  }

  // When a conversation started, in the viewer's time: the time today, else the day and time.
  function started(iso) {
    const date = new Date(iso);
    const today = new Date().toDateString() === date.toDateString();
    const options = today ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return date.toLocaleString(undefined, options);
  }

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function render() {
    const sorted = Array.from(rows.values()).sort(function (a, b) {
      const da = a.recent_drop === null ? -1 : a.recent_drop;
      const db = b.recent_drop === null ? -1 : b.recent_drop;
      // As the server orders them: the largest fall first, then the newest (then the highest id).
      return db - da || (a.started_at === b.started_at ? b.id - a.id : b.started_at > a.started_at ? 1 : -1);
    });
    const fragment = document.createDocumentFragment();
    for (const r of sorted) {
      const tr = document.createElement("tr");
      tr.dataset.conversation = r.id;
      if (r.flash) tr.classList.add("flash");
      const link = document.createElement("a");
      link.href = r.live_url;
      link.textContent = r.title;
      const first = document.createElement("td");
      first.append(link);
      const drop = r.recent_drop;
      const dropCell = cell(drop === null ? "—" : drop >= 0.005 ? "−" + Math.round(drop * 100) + " pts" : "0 pts", "drop");
      if (drop !== null && drop >= 0.1) dropCell.dataset.level = "high";
      const confidence = cell(pct(r.confidence), "confidence");
      if (r.confidence !== null && r.confidence < 0.5) confidence.dataset.level = "low";
      tr.append(first, cell(r.rep), cell(r.team_name), cell(pct(r.last_probability), "probability"), dropCell,
        confidence, cell(r.turns === null ? "—" : String(r.turns)), cell(started(r.started_at), "started"));
      tr.lastChild.title = r.started_at;
      fragment.append(tr);
      r.flash = false;
    }
    body.replaceChildren(fragment);
    empty.hidden = rows.size > 0;
    table.dataset.order = sorted.map((r) => r.id).join(",");
  }

  function lastTurn(r) {
    return r.recent.length ? r.recent[r.recent.length - 1][0] : -1;
  }

  function load(list) {
    const listed = new Set();
    const before = new Map(rows);
    rows.clear();
    for (const r of list) {
      // A score pushed after the server took its summary is newer than the fetched row: keep it.
      const seen = before.get(r.id);
      if (seen && lastTurn(seen) > lastTurn(r)) {
        for (const key of ["recent", "recent_drop", "last_probability", "confidence", "turns"]) r[key] = seen[key];
      }
      rows.set(r.id, r);
      listed.add(r.id);
      outside.delete(r.id);
    }
    return listed;
  }

  async function refetch(unknownId) {
    refetchTimer = null;
    try {
      const response = await fetch(table.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const listed = load((await response.json()).conversations);
      if (unknownId !== undefined && !listed.has(unknownId)) outside.add(unknownId);
      render();
    } catch (error) {
      // The server went away meanwhile: the reconnect's hello fetches again.
    }
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function scheduleRefetch(unknownId) {
    if (refetchTimer === null) refetchTimer = setTimeout(() => refetch(unknownId), 800);
  }

  function onScore(event) {
    const row = rows.get(event.conversation_id);
    const score = event.score || {};
    if (!row || score.probability === null || score.probability === undefined) return;
    const points = row.recent;
    const last = points[points.length - 1];
    if (last && last[0] > event.turn_index) return; // an older turn's score, replayed
    if (last && last[0] === event.turn_index) last[1] = score.probability;
    else points.push([event.turn_index, score.probability]);
    while (points.length > window_) points.shift();
    row.last_probability = score.probability;
    row.recent_drop = recentDrop(points);
    row.confidence = score.confidence;
    row.turns = Math.max(row.turns || 0, event.turn_index + 1);
    row.flash = true;
    render();
  }

  function onEvent(event) {
    const id = event.conversation_id;
    if (event.type === "hello") {
      // Subscribed: fetch what changed while connecting, then say so.
      if (refetchTimer !== null) clearTimeout(refetchTimer);
      refetch().then(() => setStatus("live", "live"));
      return;
    }
    if (id === undefined || outside.has(id)) return;
    if (!rows.has(id)) {
      if (event.type !== "status") scheduleRefetch(id);
      return;
    }
    if (event.type === "score") onScore(event);
    else if (event.type === "confidence") {
      const row = rows.get(id);
      const last = row.recent[row.recent.length - 1];
      if (!last || last[0] === event.turn_index) {
        row.confidence = event.score.confidence;
        render();
      }
    } else if (event.type === "status" && event.status !== "open") {
      rows.delete(id);
      outside.add(id);
      render();
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/feed/");
    socket.onopen = function () {
      retryDelay = 1000;
    };
    socket.onmessage = (message) => onEvent(JSON.parse(message.data));
    socket.onclose = function (event) {
      if (event.code === 4403) return setStatus("closed", "not allowed");
      setStatus("reconnecting", "reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  load(JSON.parse(document.getElementById("wall-data").textContent));
  render();
  connect();
})();
