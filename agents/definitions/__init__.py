"""Agent definitions: the agent, its draft, actions and immutable versions, and their Studio pages."""
