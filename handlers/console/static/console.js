// Reload the case list when the server says something changed, so new cases appear without a click.
(function () {
  "use strict";
  var table = document.querySelector("table.cases[data-poll]");
  if (!table) { return; }
  var marker = table.getAttribute("data-marker");
  function poll() {
    fetch(table.getAttribute("data-poll"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.marker !== marker) { window.location.reload(); }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ });
  }
  window.setInterval(poll, 5000);
})();
