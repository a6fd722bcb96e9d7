// Library and detail page: the bookmark stars (PUT / DELETE on the bookmark API).
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function toggle(button, template) {
    const on = button.getAttribute("aria-pressed") !== "true";
    const url = template.replace(/\/0\/bookmark\/$/, "/" + button.dataset.bookmark + "/bookmark/");
    const response = await fetch(url, {
      method: on ? "PUT" : "DELETE",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: on ? "{}" : null,
    });
    if (!response.ok) return;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "★" : "☆";
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-bookmark]");
    if (!button) return;
    const holder = button.closest("[data-bookmark-url]");
    if (holder) toggle(button, holder.dataset.bookmarkUrl);
  });
})();
