"""The kernel: small, plain helpers every app may use (G.711 audio, E.164 numbers, encryption at
rest, metrics, JSON logs). It imports no app; the import-linter contracts in pyproject.toml keep it so."""
