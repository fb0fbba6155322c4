"""Scorers (pseudo-log-likelihood, next-sentence prediction) and reranking."""

# Names the CLI offers as choices: here, so that `--help` needs no torch.
METHODS = ("pll", "nsp", "pll+nsp")
VARIANTS = ("original", "within-word")
