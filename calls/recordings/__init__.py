"""After the call: the audio spool, the stereo recording built from it, finalizing, serving it."""
