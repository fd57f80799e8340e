"""Benchmarks with same-run floors. Not tests: pytest collects nothing here.

Run one with `python -m bench.api --help` or `python -m bench.chat --help`; see
bench/README.md.
"""
