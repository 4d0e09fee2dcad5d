"""Studio pages of agent definitions: agents and drafts, actions, versions. Thin views."""
