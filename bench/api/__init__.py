"""The API benchmark: list, lookups and booking against floors F1 and F0.

Run it with `python -m bench.api` (or `make bench`); see bench/README.md.
"""
