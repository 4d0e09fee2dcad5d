"""The production topology on one machine (nginx TLS → Daphne x2, Celery, PostgreSQL, Redis).

`python -m tests.prod_local` (`make prod-local`) runs it until Ctrl-C; `topology.prod_local()`
is the same as a context manager for tests/test_prod_local_e2e.py.
"""
