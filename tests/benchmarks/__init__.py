"""Benchmarks, run as scripts (`.venv/bin/python -m tests.benchmarks.<name>`), not as pytest tests."""
