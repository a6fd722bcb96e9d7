// Conversation list: re-fetches the table when any visible conversation changes.
(function () {
  "use strict";
  const container = document.getElementById("conversation-table");
  const status = document.getElementById("feed-status");
  let refreshTimer = null;
  let retryDelay = 1000;

  function setStatus(state, label) {
    status.dataset.state = state;
    status.textContent = label;
  }

  async function refresh() {
    refreshTimer = null;
    const response = await fetch(container.dataset.url, { credentials: "same-origin" });
    if (response.ok) container.innerHTML = await response.text();
  }

  function scheduleRefresh() {
    // Many turns can arrive at once; one refresh per second is plenty for a list.
    if (refreshTimer === null) refreshTimer = setTimeout(refresh, 1000);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/feed/");
    socket.onopen = function () {
      retryDelay = 1000;
      setStatus("live", "live");
    };
    socket.onmessage = function (message) {
      const event = JSON.parse(message.data);
      if (event.type === "hello") {
        scheduleRefresh(); // catch up on anything missed while disconnected
      } else if (event.type !== "score" && event.type !== "confidence") {
        // The list shows no scores: only new conversations, turns and status changes refresh it.
        scheduleRefresh();
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4403) return setStatus("closed", "not allowed");
      setStatus("reconnecting", "reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  connect();
})();
