"""Batched left-padded generation gives exactly what one-at-a-time generate gives."""

from tests.helpers import qa_records


def _single(model, tok, prompt, max_new_tokens):
    import torch

    from lorakit.models.generate import clean_prediction
    from lorakit.models.encode import encode_prompt

    ids = torch.tensor([encode_prompt(tok, prompt)])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return clean_prediction(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))


def test_batched_equals_one_at_a_time(tiny_llama_dir):
    from lorakit.models.generate import generate
    from lorakit.models.load import load_causal_lm

    model, tok = load_causal_lm(tiny_llama_dir)
    prompts = [r["prompt"] for r in qa_records(24, seed=3)]
    batched = generate(model, tok, prompts, batch_size=8, max_new_tokens=6)
    single = [_single(model, tok, p, 6) for p in prompts]
    assert batched == single
    assert len(set(len(p) for p in prompts)) > 1  # the batches really were padded


def test_rows_stop_at_their_first_newline_with_the_same_predictions(tiny_llama_dir):
    """A row ends once it has emitted a newline (eval keeps the first line): predictions equal the
    unstopped one-at-a-time ones, and a batch whose rows have all ended generates no more."""
    import torch

    from lorakit.models.generate import generate, newline_stop
    from lorakit.models.load import load_causal_lm

    model, tok = load_causal_lm(tiny_llama_dir)
    newline = tok.encode("\n", add_special_tokens=False)[-1]
    with torch.no_grad():  # make the newline likely enough that some rows emit it early
        model.lm_head.weight[newline] = model.lm_head.weight.mean(0) + 4 * model.lm_head.weight.std(0)
    prompts = [r["prompt"] for r in qa_records(24, seed=3)]
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    batched = generate(model, tok, prompts, batch_size=8, max_new_tokens=12)
    hook.remove()
    assert batched == [_single(model, tok, p, 12) for p in prompts]
    assert "" in batched and any(len(p) > 3 for p in batched)  # rows ended at different steps
    assert len(calls) < 3 * 12, len(calls)  # three batches of 8, one forward a step: some batch ended early
    stop = newline_stop(tok)
    flags = stop(torch.tensor([[5, newline], [newline, 5]]), None)
    assert flags.tolist() == [True, False]
