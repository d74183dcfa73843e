"""batchtop's benchmark harness (`python -m benchmarks`); see `run.py` and `README.md` here."""
