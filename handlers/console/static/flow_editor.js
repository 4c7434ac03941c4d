// The flow and lexicon editor: a line-number gutter beside the YAML textarea (lines with a problem marked),
// problems that select their line when clicked, and the flow diagram drawn by the vendored Mermaid.
(function () {
  "use strict";
  var source = document.getElementById("source");
  var gutter = document.querySelector(".code-editor .gutter");

  function problemLines() {
    var marked = {};
    (gutter.getAttribute("data-problem-lines") || "").split(" ").forEach(function (line) {
      if (line) { marked[line] = true; }
    });
    return marked;
  }

  function drawGutter() {
    var count = source.value.split("\n").length;
    var marked = problemLines();
    var fragment = document.createDocumentFragment();
    for (var line = 1; line <= count; line += 1) {
      var number = document.createElement("span");
      number.textContent = String(line);
      number.setAttribute("data-line", String(line));
      if (marked[line]) { number.className = "bad"; number.title = "a problem on this line"; }
      fragment.appendChild(number);
      fragment.appendChild(document.createTextNode("\n"));
    }
    gutter.textContent = "";
    gutter.appendChild(fragment);
    gutter.scrollTop = source.scrollTop;
  }

  function selectLine(line) {
    var lines = source.value.split("\n");
    var index = Math.max(0, Math.min(line, lines.length) - 1);
    var start = 0;
    for (var i = 0; i < index; i += 1) { start += lines[i].length + 1; }
    source.focus();
    source.setSelectionRange(start, start + lines[index].length);
    var height = source.scrollHeight / Math.max(lines.length, 1);
    source.scrollTop = Math.max(0, (index - 3) * height);
    gutter.scrollTop = source.scrollTop;
  }

  if (source && gutter) {
    drawGutter();
    source.addEventListener("input", drawGutter);
    source.addEventListener("scroll", function () { gutter.scrollTop = source.scrollTop; });
    document.querySelectorAll("ul.problems li[data-line], ul.warnings li[data-line]").forEach(function (item) {
      item.addEventListener("click", function (event) {
        event.preventDefault();
        selectLine(parseInt(item.getAttribute("data-line"), 10));
      });
    });
  }

  if (window.mermaid && document.querySelector("pre.mermaid")) {
    window.mermaid.initialize({startOnLoad: false, securityLevel: "strict", state: {useMaxWidth: false}});
    window.mermaid.run({querySelector: "pre.mermaid"});
  }
})();
