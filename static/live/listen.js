// Listen to a live call: its transcript as it happens and both audio tracks (Web Audio), level
// meters, Stop listening, and Take over. Counters for tests and curious people: window.liveStats.
(function () {
  "use strict";

  var A = window.StellarAudio;
  var root = document.getElementById("listen");
  if (!root || !A) return;

  var startButton = document.getElementById("listen-start");
  var stopButton = document.getElementById("listen-stop");
  var status = document.getElementById("listen-status");
  var transcript = document.getElementById("live-transcript");
  var emptyNote = document.getElementById("transcript-empty");
  var activity = document.getElementById("live-activity");
  var form = document.getElementById("take-over-form");
  var result = document.getElementById("take-over-result");
  var delayLine = document.querySelector(".listen-delay");
  var delayText = document.getElementById("listen-delay");
  var droppedText = document.getElementById("listen-dropped");
  var delayShownAt = 0;
  var seen = {};
  var ws = null;
  var ctx = null;
  var players = {};
  var meters = {};

  var stats = {
    connected: false,
    snapshot: false,
    snapshots: 0,
    liveTranscripts: 0,
    audioMessages: { caller: 0, agent: 0 },
    audioFrames: 0,
    audioBytes: 0,
    transcripts: 0,
    events: 0,
    ended: "",
    delayMs: null,  // the last delay shown: server-side delay_ms + what the player holds
    droppedMs: 0,  // audio the server dropped for this listener (it fell behind)
    takeOver: null,
    closeCode: null,
  };
  window.liveStats = stats;

  function setStatus(text) { status.textContent = text; }

  function addSegment(seg) {
    var key = seg.speaker + "|" + seg.start_ms + "|" + seg.text;
    if (seen[key]) return;
    seen[key] = true;
    transcript.appendChild(A.segmentItem(seg, "Caller"));
    if (emptyNote) emptyNote.hidden = true;
    stats.transcripts += 1;
  }

  function addActivity(kind, message) {
    activity.appendChild(A.activityItem(kind, message));
    stats.events += 1;
  }

  function audio(message) {
    var track = message.track === "agent" ? "agent" : "caller";
    var bytes = A.base64ToBytes(message.payload || "");
    stats.audioMessages[track] += 1;
    stats.audioBytes += bytes.length;
    stats.audioFrames += Math.round(bytes.length / A.FRAME_BYTES);
    var ahead = 0;
    if (ctx && players[track]) {
      var samples = A.decodeUlaw(bytes);
      var span = players[track].play(samples);
      meters[track].show(samples, span[0]);
      ahead = Math.max(0, (span[1] - ctx.currentTime) * 1000);  // until its last frame plays
    }
    showDelay(message, ahead);
  }

  // "Delay: 320 ms": the call's process stamps each batch (made_ms), the server adds how long
  // ago that was when it sent it (delay_ms), this page adds what its player still holds.
  // Updated at most four times a second, so it can be read.
  function showDelay(message, aheadMs) {
    if (typeof message.dropped_ms === "number" && message.dropped_ms > stats.droppedMs) {
      stats.droppedMs = message.dropped_ms;
      droppedText.hidden = false;
      droppedText.textContent = "· " + (stats.droppedMs / 1000).toFixed(1) +
        " s of audio skipped to keep you live";
    }
    if (typeof message.delay_ms !== "number") return;
    var now = Date.now();
    if (now - delayShownAt < 250) return;
    delayShownAt = now;
    stats.delayMs = Math.round(message.delay_ms + aheadMs);
    delayLine.hidden = false;
    delayText.textContent = "Delay: " + stats.delayMs + " ms";
  }

  function onMessage(event) {
    var message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    switch (message.type) {
      case "snapshot":
        stats.snapshot = true;
        stats.snapshots += 1;
        (message.segments || []).forEach(addSegment);
        if (!message.call.live) setStatus("This call is not live.");
        else if (ctx && ctx.state === "suspended") {
          setStatus("Listening. The browser holds the sound back: click anywhere to hear it.");
        } else setStatus("Listening to the live call.");
        break;
      case "monitor.audio":
        audio(message);
        break;
      case "monitor.transcript":
        stats.liveTranscripts += 1;
        addSegment(message);
        break;
      case "monitor.event":
        addActivity(message.kind, message.message);
        break;
      case "monitor.ended":
        stats.ended = message.reason || "ended";
        addActivity("ended", message.reason || "The call ended.");
        setStatus("The call ended.");
        // The header's status badge (studio/calls/_status.html) refreshes itself on this.
        document.body.dispatchEvent(new Event("call-ended"));
        break;
      case "access.changed":  // the member's role changed while listening
        if (form) form.hidden = !message.can_take_over;
        break;
      case "access.removed":
        stats.ended = message.reason;
        setStatus(message.reason);
        break;
      case "take_over.result":
        stats.takeOver = message;
        if (result) {
          result.className = "notice " + (message.ok ? "ok" : "bad");
          result.textContent = message.detail + (message.ok && message.path === "rest"
            ? " (through the Twilio REST API: the call's server did not answer)" : "");
        }
        break;
    }
  }

  function start() {
    if (ws) return;
    ctx = ctx || A.newAudioContext();
    if (ctx) {
      if (ctx.state === "suspended") ctx.resume().catch(function () {});
      ["caller", "agent"].forEach(function (track) {
        players[track] = new A.Player(ctx, { jitter: 0.3 });
        meters[track] = new A.Meter(document.getElementById("meter-" + track), ctx);
      });
    }
    setStatus("Connecting…");
    ws = new WebSocket(A.websocketUrl(root.getAttribute("data-ws-path")));
    ws.onopen = function () { stats.connected = true; };
    ws.onmessage = onMessage;
    ws.onclose = function (event) {
      stats.connected = false;
      stats.closeCode = event.code;
      ws = null;
      stopAudio();
      startButton.disabled = false;
      stopButton.disabled = true;
      if (form) form.querySelector("button[type=submit]").disabled = true;
      if (!stats.snapshot) setStatus("You cannot listen to this call.");
      else if (!stats.ended) setStatus("Not listening.");
    };
    startButton.disabled = true;
    stopButton.disabled = false;
    if (form) form.querySelector("button[type=submit]").disabled = false;
  }

  function stopAudio() {
    Object.keys(players).forEach(function (track) {
      players[track].clear();
      meters[track].reset();
    });
    players = {};
    meters = {};
  }

  function stop() {
    if (ws) ws.close(1000, "Stop listening");
    stopAudio();
    setStatus("Not listening.");
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  // Browsers start audio only after a gesture: the first click anywhere lets the sound out.
  document.addEventListener("click", function () {
    if (ctx && ctx.state === "suspended") {
      ctx.resume().then(function () {
        if (ws) setStatus("Listening to the live call.");
      }, function () {});
    }
  });

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      var choice = form.querySelector("input[name=target]:checked");
      var own = choice && choice.value === "__own__";
      var number = form.querySelector("input[name=destination]").value.trim();
      ws.send(JSON.stringify({
        action: "take_over",
        handover: choice && !own ? choice.value : null,
        destination: own ? number : null,
      }));
      if (result) {
        result.className = "notice info";
        result.textContent = "Taking over…";
      }
    });
  }
  start();
})();
