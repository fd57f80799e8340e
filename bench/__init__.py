"""Benchmarks with same-run floors. Not tests: pytest collects nothing here.

Run one with `python -m bench.chat_latency --help`; see bench/README.md.
"""
