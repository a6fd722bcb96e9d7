// Small behaviours shared by every page. No inline handlers: the Content-Security-Policy allows
// scripts from this site only.
(function () {
  "use strict";
  // <select data-autosubmit>: choosing an option submits its form (filters that apply at once).
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });
})();
