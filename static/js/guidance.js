// Live page side panels: the guidance card (with thumbs up/down), what moved the probability, behaviour
// nudges and similar won conversations. Follows live.js's websocket stream ("salesrl:event").
(function () {
  "use strict";

  const root = document.getElementById("live");
  const els = {
    card: document.getElementById("guidance"),
    message: document.getElementById("guidance-message"),
    list: document.getElementById("guidance-list"),
    avoid: document.getElementById("guidance-avoid"),
    feedback: document.getElementById("guidance-feedback"),
    moved: document.getElementById("moved"),
    nudges: document.getElementById("nudges"),
    similar: document.getElementById("similar"),
  };
  // An experiment's arm may withhold guidance (the control of a guidance test): then only "what
  // moved it", which is part of the score, is drawn here.
  const withheld = root.dataset.guidance === "off";
  let current = null; // the guidance shown (its turn_index decides whether a newer one replaces it)
  let movedTurn = -1;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function points(x) {
    const value = Math.round(x * 100);
    return (value > 0 ? "+" : value < 0 ? "\u2212" : "\u00b1") + Math.abs(value);
  }

  function renderGuidance(guidance) {
    if (withheld || !guidance || (current && guidance.turn_index < current.turn_index)) return;
    current = guidance;
    els.card.dataset.status = guidance.status;
    els.card.dataset.turn = guidance.turn_index;
    els.message.textContent = guidance.message;
    els.message.classList.toggle("muted", guidance.status !== "ok");
    const items = (guidance.recommendations || []).map(function (r, i) {
      const li = el("li", i === 0 ? "recommendation top" : "recommendation");
      li.dataset.act = r.act;
      li.append(el("strong", "", r.title));
      const lift = el("span", "lift", points(r.advantage) + " pts");
      lift.title = "Estimated change in conversion after this act, 95% range " + points(r.interval[0]) + " to " + points(r.interval[1]) + " points, from " + r.support + " similar decisions";
      li.append(" ", lift);
      return li;
    });
    els.list.replaceChildren.apply(els.list, items);
    els.avoid.hidden = !guidance.avoid;
    if (guidance.avoid) els.avoid.textContent = guidance.avoid.text;
    els.feedback.hidden = guidance.status === "unavailable" || !guidance.id;
    for (const button of els.feedback.querySelectorAll("button")) {
      const vote = button.dataset.helpful === "true" ? "up" : "down";
      button.setAttribute("aria-pressed", String(guidance.my_feedback === vote));
    }
    renderNudges(guidance.nudges || []);
    renderSimilar(guidance.similar || []);
  }

  function renderNudges(nudges) {
    if (!nudges.length) {
      els.nudges.replaceChildren(el("li", "muted", "Not enough won conversations in your team at this point to compare with."));
      return;
    }
    els.nudges.replaceChildren.apply(
      els.nudges,
      nudges.map(function (n) {
        const li = el("li", "nudge");
        li.dataset.status = n.status;
        li.dataset.metric = n.metric;
        li.append(el("span", "nudge-label", n.label), el("span", "nudge-text", n.text));
        return li;
      })
    );
  }

  function renderSimilar(similar) {
    if (!similar.length) {
      els.similar.replaceChildren(el("li", "muted", "No won conversation of yours looks like this one yet."));
      return;
    }
    els.similar.replaceChildren.apply(
      els.similar,
      similar.map(function (s) {
        const li = el("li", "similar-item");
        const link = el("a", "", s.title);
        link.href = s.url;
        li.append(link, el("span", "muted small", " at turn " + (s.turn_index + 1)));
        if (s.moment) li.append(el("p", "moment", (s.moment.speaker === "rep" ? "Rep: " : "Customer: ") + s.moment.text));
        if (s.next) li.append(el("p", "moment next", "Then " + (s.next.speaker === "rep" ? "the rep" : "the customer") + ": " + s.next.text));
        return li;
      })
    );
  }

  function renderMoved(turnIndex, score) {
    const moved = score && score.details && score.details.moved;
    if (!moved || turnIndex < movedTurn) return;
    movedTurn = turnIndex;
    els.moved.textContent = moved.sentence;
    els.moved.classList.remove("muted");
    els.moved.dataset.turn = turnIndex;
  }

  async function loadLatest() {
    if (withheld) return;
    try {
      const response = await fetch(root.dataset.guidanceUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      if (data.guidance) renderGuidance(data.guidance);
    } catch (error) {
      // The websocket brings the next one; nothing to show meanwhile.
    }
  }

  for (const button of withheld ? [] : els.feedback.querySelectorAll("button")) {
    button.addEventListener("click", async function () {
      if (!current || !current.id) return;
      const helpful = button.dataset.helpful === "true";
      const url = root.dataset.feedbackUrl.replace("/0/", "/" + current.id + "/");
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ helpful: helpful }),
      });
      if (response.ok) {
        current.my_feedback = helpful ? "up" : "down";
        for (const other of els.feedback.querySelectorAll("button")) {
          other.setAttribute("aria-pressed", String(other === button));
        }
        els.feedback.dataset.saved = current.my_feedback;
      }
    });
  }

  document.addEventListener("salesrl:event", function (e) {
    const event = e.detail;
    if (event.type === "guidance") renderGuidance(event.guidance);
    else if (event.type === "score") renderMoved(event.turn_index, event.score);
    else if (event.type === "snapshot") {
      const turns = (event.conversation.turns || []).filter((t) => t.score && t.score.details && t.score.details.moved);
      if (turns.length) renderMoved(turns[turns.length - 1].index, turns[turns.length - 1].score);
      loadLatest(); // a reconnect may have missed a guidance update
    }
  });

  const snapshot = JSON.parse(document.getElementById("snapshot").textContent);
  const scored = (snapshot.turns || []).filter((t) => t.score && t.score.details && t.score.details.moved);
  if (scored.length) renderMoved(scored[scored.length - 1].index, scored[scored.length - 1].score);
  loadLatest();
})();
