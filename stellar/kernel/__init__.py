"""The kernel: small, plain helpers every app may use (G.711 audio, phone numbers and the
destination policy, encryption at rest, metrics, JSON logs, the egress policy, URL checks).
It imports no app; the import-linter contracts in pyproject.toml keep it so."""
