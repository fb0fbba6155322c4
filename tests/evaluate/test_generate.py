"""Batched left-padded generation gives exactly what one-at-a-time generate gives."""

from tests.helpers import qa_records


def _single(model, tok, prompt, max_new_tokens):
    import torch

    from lorakit.evaluate.generate import clean_prediction
    from lorakit.models.tokens import encode_prompt

    ids = torch.tensor([encode_prompt(tok, prompt)])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return clean_prediction(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))


def test_batched_equals_one_at_a_time(tiny_llama_dir):
    from lorakit.evaluate.generate import generate
    from lorakit.models.load import load_causal_lm

    model, tok = load_causal_lm(tiny_llama_dir)
    prompts = [r["prompt"] for r in qa_records(24, seed=3)]
    batched = generate(model, tok, prompts, batch_size=8, max_new_tokens=6)
    single = [_single(model, tok, p, 6) for p in prompts]
    assert batched == single
    assert len(set(len(p) for p in prompts)) > 1  # the batches really were padded
