// Keep console pages current without a click: the case list reloads when something changed, an open case's
// transcript swaps in new messages (the reply box keeps what the advisor is typing).
(function () {
  "use strict";
  function watch(element, every, onChange) {
    var marker = element.getAttribute("data-marker");
    window.setInterval(function () {
      fetch(element.getAttribute("data-poll"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && data.marker !== marker) { marker = data.marker; onChange(data); }
        })
        .catch(function () { /* offline for a moment: try again on the next tick */ });
    }, every);
  }
  var table = document.querySelector("table.cases[data-poll]");
  if (table) { watch(table, 5000, function () { window.location.reload(); }); }
  var transcript = document.querySelector("ol.transcript[data-poll]");
  if (transcript) { watch(transcript, 3000, function (data) { transcript.innerHTML = data.html; }); }
})();
