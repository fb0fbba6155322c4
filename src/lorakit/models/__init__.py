"""Tiny model presets, tokenizer training, model loading, pretraining loops."""
