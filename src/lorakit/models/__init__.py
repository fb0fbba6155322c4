"""Tiny model presets, tokenizer training, model loading, batched generation, pretraining corpora and loops."""

# pretrain-bert's names the CLI offers as choices: here, so that `--help` needs no torch.
OBJECTIVES = ("mlm", "mlm+nsp", "mlm+sop")
TOKENIZER_TYPES = ("unigram", "bpe")
POSITION_INITS = ("random", "sinusoidal")
