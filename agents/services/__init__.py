"""Writes of the agents app (HackSoft style: `<noun>_<verb>(*, ...)`)."""
