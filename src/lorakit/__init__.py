"""lorakit: reuse LoRA adapters (merge, route) and rescore outputs with tiny BERTs."""

__version__ = "0.1.0"
