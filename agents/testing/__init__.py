"""Agent test suites: scripted caller turns with expected outcomes, run on a draft or version."""
