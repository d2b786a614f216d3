"""Benchmarks of Mandate's governance against plain Temporal (run ``python benchmarks/run.py``)."""
