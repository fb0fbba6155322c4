"""Answer normalisation and metrics, lm-evaluation-harness results files (generation: lorakit.models.generate)."""
