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


def test_shared_prefix_runs_once_with_the_same_predictions(tiny_llama_dir):
    """share_prefix (eval's path): the tokens every prompt starts with (here a long system turn) run
    once per window, batch 1; every row's prediction equals its one-at-a-time generation, and the
    model processes fewer prompt tokens than without sharing."""
    from lorakit.models.generate import WINDOW_BATCHES, generate, shared_prefix
    from lorakit.models.load import load_causal_lm

    model, tok = load_causal_lm(tiny_llama_dir)
    system = "You answer questions about people and where they live, in one short line. "
    prompts = [system + r["prompt"] for r in qa_records(20, seed=4)]
    seen = []
    hook = model.register_forward_pre_hook(lambda _m, args, kw: seen.append(kw["input_ids"].numel()), with_kwargs=True)
    shared = generate(model, tok, prompts, batch_size=8, max_new_tokens=6, share_prefix=True)
    prefix_runs, tokens_shared, seen[:] = seen.count(shared_prefix([tok.encode(p) for p in prompts])), sum(seen), []
    plain = generate(model, tok, prompts, batch_size=8, max_new_tokens=6)
    hook.remove()
    assert shared == plain == [_single(model, tok, p, 6) for p in prompts]
    assert tokens_shared < sum(seen) - 10 * len(prompts), (tokens_shared, sum(seen))
    assert len(prompts) <= 8 * WINDOW_BATCHES and prefix_runs == 1  # one window: the prefix ran once


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    from lorakit.models.generate import shared_prefix

    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2  # identical prompts: the last token stays each row's
    assert shared_prefix([[7, 1], [8, 1]]) == 0
    assert shared_prefix([[1]]) == 0
