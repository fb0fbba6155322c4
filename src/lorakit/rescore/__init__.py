"""Scorers (pseudo-log-likelihood, next-sentence prediction, a source-blind word-bigram control) and reranking."""

# Names the CLI offers as choices: here, so that `--help` needs no torch.
METHODS = ("pll", "nsp", "pll+nsp", "ngram")
VARIANTS = ("original", "within-word")
