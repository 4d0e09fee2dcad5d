// AudioWorklet: the microphone at the context's rate → 8 kHz int16, posted in 20 ms frames
// (160 samples). Low-pass by averaging each output sample's input span, then decimate.
class MicFrames extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / 8000;
    this.position = 0;
    this.sum = 0;
    this.count = 0;
    this.frame = new Int16Array(160);
    this.filled = 0;
  }

  push(value) {
    var sample = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = Math.round(sample * 32767);
    if (this.filled === this.frame.length) {
      this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
      this.frame = new Int16Array(160);
      this.filled = 0;
    }
  }

  process(inputs) {
    var channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (var i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.position += 1;
      if (this.position >= this.ratio) {
        this.position -= this.ratio;
        this.push(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }
}

registerProcessor("mic-frames", MicFrames);
