"""The ablation variants of the benchmark agent, one workflow class per module (see ``benchmarks/ablations.py``)."""
