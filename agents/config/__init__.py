"""Per-environment configuration: environments, secrets, variables and auth connectors."""
