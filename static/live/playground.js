// The Playground: talk to an agent from the browser. The page plays Twilio: microphone →
// 8 kHz μ-law 20 ms frames → Media Streams JSON over a websocket; the agent's media is played
// with Web Audio, marks are echoed once played, `clear` stops playback at once. The server
// runs the same call session as for a phone call. Counters: window.playgroundStats.
(function () {
  "use strict";

  var A = window.StellarAudio;
  var root = document.getElementById("playground");
  if (!root || !A) return;

  var form = document.getElementById("pg-form");
  var startButton = document.getElementById("pg-start");
  var stopButton = document.getElementById("pg-stop");
  var pttBox = document.getElementById("pg-ptt");
  var talkButton = document.getElementById("pg-talk");
  var status = document.getElementById("pg-status");
  var transcript = document.getElementById("pg-transcript");
  var emptyNote = document.getElementById("pg-transcript-empty");
  var activity = document.getElementById("pg-activity");
  var outcome = document.getElementById("pg-outcome");
  var meterMic = document.getElementById("meter-mic");
  var meterAgent = document.getElementById("meter-agent");

  var SILENCE = new Uint8Array(A.FRAME_BYTES).fill(0xff);
  var session = null;

  var stats = {
    state: "idle",
    callId: null,
    framesSent: 0,
    mediaReceived: 0,
    marksReceived: 0,
    marksEchoed: 0,
    clears: 0,
    transcripts: [],
    activity: [],
    ended: null,
    error: null,
  };
  window.playgroundStats = stats;

  function setStatus(text) { status.textContent = text; }

  function addSegment(seg) {
    transcript.appendChild(A.segmentItem(seg, "You"));
    emptyNote.hidden = true;
    stats.transcripts.push({ speaker: seg.speaker, text: seg.text });
  }

  function addActivity(kind, message) {
    activity.appendChild(A.activityItem(kind, message));
    stats.activity.push({ kind: kind, message: message });
  }

  function csrfToken() {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function randomHex(n) {
    var bytes = new Uint8Array(n / 2);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // ---- the session ----------------------------------------------------------------------
  function Session(info) {
    this.info = info;
    this.streamSid = "MZ" + randomHex(32);
    this.seq = 0;
    this.chunk = 0;
    this.pendingMarks = [];
    this.talking = false;
    this.closed = false;
  }

  Session.prototype.send = function (message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    if (message.event !== "connected") {
      this.seq += 1;
      message.sequenceNumber = String(this.seq);
    }
    this.ws.send(JSON.stringify(message));
    return true;
  };

  Session.prototype.open = async function () {
    var self = this;
    self.ctx = A.newAudioContext();
    if (self.ctx.state === "suspended") await self.ctx.resume();
    self.player = new A.Player(self.ctx, { jitter: 0.06 });
    self.agentMeter = new A.Meter(meterAgent, self.ctx);
    self.micStream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    self.source = self.ctx.createMediaStreamSource(self.micStream);
    self.mute = self.ctx.createGain();
    self.mute.gain.value = 0;
    self.mute.connect(self.ctx.destination);
    if (self.ctx.audioWorklet) {
      await self.ctx.audioWorklet.addModule(root.getAttribute("data-worklet-url"));
      self.capture = new AudioWorkletNode(self.ctx, "mic-frames");
      self.capture.port.onmessage = function (event) { self.micFrame(new Int16Array(event.data)); };
    } else {
      self.capture = scriptProcessorCapture(self.ctx, function (frame) { self.micFrame(frame); });
    }
    self.source.connect(self.capture);
    self.capture.connect(self.mute);

    self.ws = new WebSocket(A.websocketUrl(self.info.ws_path));
    self.ws.onopen = function () {
      self.send({ event: "connected", protocol: "Call", version: "1.0.0" });
      self.send({
        event: "start",
        streamSid: self.streamSid,
        start: {
          streamSid: self.streamSid,
          callSid: self.info.call_sid,
          accountSid: "",
          tracks: ["inbound"],
          customParameters: { source: "playground" },
          mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
        },
      });
      self.started = true;
      stats.state = "running";
      setStatus("Connected: speak to the agent" + (pttBox.checked ? " while holding Talk." : "."));
    };
    self.ws.onmessage = function (event) { self.onMessage(event); };
    self.ws.onclose = function (event) { self.teardown(event.code); };
    self.markTimer = window.setInterval(function () { self.echoMarks(false); }, 20);
  };

  Session.prototype.micFrame = function (int16) {
    if (!this.started || this.closed) return;
    var speaking = !pttBox.checked || this.talking;
    var bytes = speaking ? A.encodeUlaw(int16) : SILENCE;
    if (meterMic) meterMic.value = speaking ? Math.min(1, (A.rms(int16) / 32768) * 4) : 0;
    this.chunk += 1;
    var sent = this.send({
      event: "media",
      streamSid: this.streamSid,
      media: {
        track: "inbound",
        chunk: String(this.chunk),
        timestamp: String((this.chunk - 1) * 20),
        payload: A.bytesToBase64(bytes),
      },
    });
    if (sent) stats.framesSent += 1;
  };

  Session.prototype.onMessage = function (event) {
    var message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    switch (message.event) {
      case "media":
        var samples = A.decodeUlaw(A.base64ToBytes(message.media.payload));
        var span = this.player.play(samples);
        this.agentMeter.show(samples, span[0]);
        stats.mediaReceived += 1;
        break;
      case "mark":
        stats.marksReceived += 1;
        this.pendingMarks.push({ name: message.mark.name, at: this.player.playedOutAt() });
        break;
      case "clear":
        stats.clears += 1;
        this.player.clear();
        this.agentMeter.reset();
        this.echoMarks(true);
        break;
      case "transcript":
        addSegment(message);
        break;
      case "activity":
        addActivity(message.kind, message.message);
        break;
      case "ended":
        stats.ended = message;
        addActivity(message.kind, message.detail);
        outcome.hidden = false;
        outcome.querySelector("[data-outcome]").textContent =
          (message.kind === "handover" ? "The agent handed the call over: " : "") + message.detail + ".";
        break;
    }
  };

  // Twilio echoes a mark once the audio before it has played (all of them at a clear).
  Session.prototype.echoMarks = function (all) {
    var now = this.ctx ? this.ctx.currentTime : 0;
    while (this.pendingMarks.length && (all || this.pendingMarks[0].at <= now)) {
      var mark = this.pendingMarks.shift();
      if (this.send({ event: "mark", streamSid: this.streamSid, mark: { name: mark.name } })) {
        stats.marksEchoed += 1;
      }
    }
  };

  Session.prototype.stop = function () {
    this.send({
      event: "stop",
      streamSid: this.streamSid,
      stop: { accountSid: "", callSid: this.info.call_sid },
    });
    setStatus("Ending the session…");
    var ws = this.ws;
    window.setTimeout(function () { if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000); }, 3000);
  };

  Session.prototype.teardown = function (code) {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.markTimer);
    if (this.micStream) this.micStream.getTracks().forEach(function (track) { track.stop(); });
    if (this.player) this.player.clear();
    if (this.agentMeter) this.agentMeter.reset();
    if (meterMic) meterMic.value = 0;
    if (this.ctx) this.ctx.close().catch(function () {});
    stats.state = "ended";
    session = null;
    startButton.disabled = false;
    stopButton.disabled = true;
    talkButton.disabled = true;
    form.querySelectorAll("select").forEach(function (el) { el.disabled = false; });
    setStatus(code === 1000 || code === 1005 || stats.ended
      ? "Session ended. It is saved in Conversations."
      : "The connection closed (" + code + ").");
    var link = document.getElementById("pg-conversation");
    link.href = this.info.conversation_url;
    link.hidden = false;
  };

  // Fallback capture for browsers without AudioWorklet: the same 8 kHz framing, main thread.
  function scriptProcessorCapture(ctx, onFrame) {
    var node = ctx.createScriptProcessor(2048, 1, 1);
    var ratio = ctx.sampleRate / 8000, position = 0, sum = 0, count = 0;
    var frame = new Int16Array(160), filled = 0;
    node.onaudioprocess = function (event) {
      var input = event.inputBuffer.getChannelData(0);
      for (var i = 0; i < input.length; i++) {
        sum += input[i]; count += 1; position += 1;
        if (position >= ratio) {
          position -= ratio;
          frame[filled++] = Math.round(Math.max(-1, Math.min(1, sum / count)) * 32767);
          sum = 0; count = 0;
          if (filled === 160) { onFrame(frame); frame = new Int16Array(160); filled = 0; }
        }
      }
    };
    return node;
  }

  // ---- controls ---------------------------------------------------------------------------
  async function start(event) {
    event.preventDefault();
    if (session) return;
    startButton.disabled = true;
    stats.error = null;
    stats.ended = null;
    transcript.textContent = "";
    activity.textContent = "";
    emptyNote.hidden = false;
    outcome.hidden = true;
    document.getElementById("pg-conversation").hidden = true;
    setStatus("Starting…");
    try {
      var response = await fetch(root.getAttribute("data-start-url"), {
        method: "POST",
        body: new FormData(form),
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
      var info = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        var errors = info.errors || {};
        var first = Object.keys(errors).map(function (k) { return errors[k].join(" "); })[0];
        throw new Error(first || "The Playground could not start (" + response.status + ").");
      }
      stats.callId = info.call_id;
      session = new Session(info);
      form.querySelectorAll("select").forEach(function (el) { el.disabled = true; });
      stopButton.disabled = false;
      talkButton.disabled = !pttBox.checked;
      await session.open();
    } catch (error) {
      stats.error = String(error.message || error);
      setStatus(error.name === "NotAllowedError"
        ? "The browser did not allow the microphone."
        : stats.error);
      if (session) session.teardown(1011);
      startButton.disabled = false;
      stopButton.disabled = true;
    }
  }

  form.addEventListener("submit", start);
  stopButton.addEventListener("click", function () { if (session) session.stop(); });
  pttBox.addEventListener("change", function () {
    talkButton.disabled = !pttBox.checked || !session;
  });

  function talk(on) {
    if (!session) return;
    session.talking = on;
    talkButton.setAttribute("aria-pressed", on ? "true" : "false");
    talkButton.textContent = on ? "Talking… (release)" : "Hold to talk";
  }
  talkButton.addEventListener("pointerdown", function () { talk(true); });
  talkButton.addEventListener("pointerup", function () { talk(false); });
  talkButton.addEventListener("pointerleave", function () { talk(false); });
  talkButton.addEventListener("keydown", function (event) {
    if ((event.key === " " || event.key === "Enter") && !event.repeat) { event.preventDefault(); talk(true); }
  });
  talkButton.addEventListener("keyup", function (event) {
    if (event.key === " " || event.key === "Enter") { event.preventDefault(); talk(false); }
  });
})();
