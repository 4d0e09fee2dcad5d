"""The test harness: real PostgreSQL, Redis and a Prism mock of Twilio's API, on loopback.

`python -m tests.harness -- pytest ...` starts them, runs the command with their addresses in
its environment, and stops them. The services are context managers in `services`.
"""
