"""Audio plumbing for calls: G.711 μ-law codec, resampling, frame pacing."""
