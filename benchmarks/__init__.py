"""`make bench`: measurements against the real server, printed as ratios and percentiles.

python -m benchmarks                      # everything, default sizes (each part ≲ 5 min)
python -m benchmarks concurrency --quick  # one part, smoke-sized
python -m benchmarks turns --help         # each part's knobs

Parts: concurrency (issue 4), turns and eval (issue 5), kills (issue 7). Nothing here asserts:
numbers are printed, with the machine's load average, for people to judge. Every process a
benchmark starts runs in its own process group and is stopped on the way out.
"""
