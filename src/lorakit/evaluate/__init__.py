"""Batched generation, answer normalisation and metrics, lm-evaluation-harness results files."""
