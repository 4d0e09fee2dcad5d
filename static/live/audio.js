// Stellar live audio in the browser: G.711 μ-law ↔ PCM, base64, and a jitter-buffered player.
// Used by the Listen page (both tracks of a live call) and the Playground (the agent's voice,
// the microphone). Twilio's format everywhere: μ-law, 8000 Hz, mono, 20 ms = 160 bytes.
(function () {
  "use strict";

  var RATE = 8000;
  var BIAS = 0x84;
  var SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

  // μ-law byte → float in [-1, 1] (the decode table of the reference g711.c).
  var DECODE = new Float32Array(256);
  (function () {
    for (var i = 0; i < 256; i++) {
      var u = ~i & 0xff;
      var t = ((u & 0x0f) << 3) + BIAS;
      t <<= (u & 0x70) >> 4;
      DECODE[i] = ((u & 0x80) ? BIAS - t : t - BIAS) / 32768;
    }
  })();

  // 16-bit sample → μ-law byte (Sun g711.c linear2ulaw, bit-exact with Python's audioop).
  function encodeSample(pcm) {
    var mask;
    pcm = pcm >> 2;
    if (pcm < 0) { pcm = -pcm; mask = 0x7f; } else { mask = 0xff; }
    if (pcm > 8159) pcm = 8159;
    pcm += BIAS >> 2;
    var seg = 0;
    while (seg < 8 && pcm > SEG_END[seg]) seg++;
    if (seg >= 8) return 0x7f ^ mask;
    return (((seg << 4) | ((pcm >> (seg + 1)) & 0x0f)) ^ mask) & 0xff;
  }

  var ENCODE = new Uint8Array(65536);
  for (var s = 0; s < 65536; s++) ENCODE[s] = encodeSample(s >= 32768 ? s - 65536 : s);

  function decodeUlaw(bytes) {
    var out = new Float32Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) out[i] = DECODE[bytes[i]];
    return out;
  }

  function encodeUlaw(int16) {
    var out = new Uint8Array(int16.length);
    for (var i = 0; i < int16.length; i++) out[i] = ENCODE[int16[i] & 0xffff];
    return out;
  }

  function base64ToBytes(text) {
    var raw = window.atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function bytesToBase64(bytes) {
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return window.btoa(raw);
  }

  function rms(samples) {
    var sum = 0;
    for (var i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    return samples.length ? Math.sqrt(sum / samples.length) : 0;
  }

  // Plays 8 kHz chunks back to back. The first chunk (and any chunk after the player ran
  // dry) waits `jitter` seconds, so late chunks find the queue still playing.
  function Player(ctx, options) {
    options = options || {};
    this.ctx = ctx;
    this.jitter = options.jitter === undefined ? 0.12 : options.jitter;
    this.output = ctx.createGain();
    this.output.connect(options.destination || ctx.destination);
    this.next = 0;
    this.sources = [];
  }

  // Schedule float samples at 8 kHz; returns [start, end] in AudioContext seconds.
  Player.prototype.play = function (samples) {
    var ctx = this.ctx;
    var buffer = ctx.createBuffer(1, samples.length, RATE);
    buffer.getChannelData(0).set(samples);
    var source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.output);
    var now = ctx.currentTime;
    if (this.next < now + 0.01) this.next = now + this.jitter;
    var start = this.next;
    source.start(start);
    this.next = start + samples.length / RATE;
    var sources = this.sources;
    sources.push(source);
    source.onended = function () {
      var i = sources.indexOf(source);
      if (i >= 0) sources.splice(i, 1);
    };
    return [start, this.next];
  };

  // When everything scheduled so far has played (AudioContext seconds).
  Player.prototype.playedOutAt = function () {
    return Math.max(this.next, this.ctx.currentTime);
  };

  Player.prototype.clear = function () {
    this.sources.forEach(function (source) {
      try { source.stop(); } catch (e) { /* not started yet */ }
    });
    this.sources = [];
    this.next = 0;
  };

  // A <meter> that follows the level of what is playing and falls back when it is quiet.
  function Meter(element, ctx) {
    this.element = element;
    this.ctx = ctx;
    this.level = 0;
    this.timers = [];
  }

  Meter.prototype.show = function (samples, at) {
    var meter = this;
    var level = Math.min(1, rms(samples) * 4);
    var delay = Math.max(0, (at - meter.ctx.currentTime) * 1000);
    var duration = (samples.length / RATE) * 1000;
    meter.timers.push(window.setTimeout(function () { meter.set(level); }, delay));
    meter.timers.push(window.setTimeout(function () { meter.set(0); }, delay + duration + 60));
    if (meter.timers.length > 200) meter.timers.splice(0, 100);
  };

  Meter.prototype.set = function (level) {
    this.level = level;
    if (this.element) this.element.value = level;
  };

  Meter.prototype.reset = function () {
    this.timers.forEach(window.clearTimeout);
    this.timers = [];
    this.set(0);
  };

  function newAudioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    return Context ? new Context({ latencyHint: "interactive" }) : null;
  }

  function websocketUrl(path) {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
  }

  // --- Live page pieces shared by Listen and Playground ------------------------------------

  function clock(ms) {
    var seconds = Math.floor((ms || 0) / 1000);
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  // A transcript line: <li><div class="seg caller|agent"><time/> <who/> <text/></div></li>.
  function segmentItem(seg, callerName) {
    var li = document.createElement("li");
    var line = document.createElement("div");
    line.className = "seg " + (seg.speaker === "caller" ? "caller" : "agent");
    var t = document.createElement("span");
    t.className = "t";
    t.textContent = clock(seg.start_ms);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = seg.speaker === "caller" ? callerName : "Agent";
    var text = document.createElement("span");
    text.textContent = seg.text + (seg.interrupted ? " (interrupted)" : "");
    line.append(t, who, text);
    li.appendChild(line);
    return li;
  }

  // An activity (call event) line with its kind and the local time it arrived.
  function activityItem(kind, message) {
    var li = document.createElement("li");
    var k = document.createElement("span");
    k.className = "ev-kind";
    k.textContent = kind;
    var time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString();
    var text = document.createElement("div");
    text.textContent = message;
    li.append(k, time, text);
    return li;
  }

  window.StellarAudio = {
    clock: clock,
    segmentItem: segmentItem,
    activityItem: activityItem,
    RATE: RATE,
    FRAME_BYTES: 160,
    decodeUlaw: decodeUlaw,
    encodeUlaw: encodeUlaw,
    base64ToBytes: base64ToBytes,
    bytesToBase64: bytesToBase64,
    rms: rms,
    Player: Player,
    Meter: Meter,
    newAudioContext: newAudioContext,
    websocketUrl: websocketUrl,
  };
})();
