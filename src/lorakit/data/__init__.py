"""Synthetic data generators (``lorakit gen-data``): each builds its files in memory from a seed
and writes them atomically with a ``manifest.json``."""
