"""Scorers (pseudo-log-likelihood, next-sentence prediction) and reranking."""
