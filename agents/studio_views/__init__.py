"""Studio pages of the agents app: agents and their drafts, actions, versions, environments,
members. Thin views: parse a form, call one service, render."""
