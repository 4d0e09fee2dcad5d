// Stellar Studio: the little plain JavaScript the pages need (htmx does the rest).
// - [data-copy]: copy the value of the element it names to the clipboard.
// - form[data-confirm]: ask before submitting (deleting, overwriting).
// - [data-seek]: transcript lines seek the call recording; the line being played is marked.
(function () {
  "use strict";

  function announce(el, text) {
    if (!el) return;
    el.textContent = "";
    window.setTimeout(function () { el.textContent = text; }, 30);
  }

  function copyText(field) {
    var text = field.value || field.textContent || "";
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    field.focus();
    if (field.select) field.select();
    var ok = document.execCommand && document.execCommand("copy");
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    var status = document.querySelector(button.getAttribute("data-copy-status"));
    if (!field) return;
    copyText(field).then(
      function () { announce(status, "Copied to the clipboard."); button.textContent = "Copied"; },
      function () { field.select && field.select(); announce(status, "Press Ctrl+C to copy."); }
    );
    window.setTimeout(function () { button.textContent = "Copy"; }, 2500);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // Transcript ↔ recording.
  function audioFor(el) {
    return document.getElementById(el.getAttribute("data-audio") || "recording");
  }

  document.addEventListener("click", function (event) {
    var line = event.target.closest("[data-seek]");
    if (!line) return;
    var audio = audioFor(line);
    if (!audio) return;
    audio.currentTime = Number(line.getAttribute("data-seek")) / 1000;
    var playing = audio.play();
    if (playing && playing.catch) playing.catch(function () {});
  });

  function markCurrent(audio) {
    var ms = audio.currentTime * 1000;
    var lines = document.querySelectorAll("[data-seek][data-audio='" + audio.id + "']");
    lines.forEach(function (line) {
      var start = Number(line.getAttribute("data-seek"));
      var end = Number(line.getAttribute("data-end"));
      if (ms >= start && ms < end) line.setAttribute("aria-current", "true");
      else line.removeAttribute("aria-current");
    });
  }

  document.addEventListener("timeupdate", function (event) {
    if (event.target.tagName === "AUDIO") markCurrent(event.target);
  }, true);
})();
