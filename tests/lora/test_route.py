"""Routing maths and hooks: Arrow equals PEFT's Arrow, one adapter at k=1 equals that adapter,
output-average equals all adapters active at 1/N; per-example selection (min-entropy, centroid)
in mixed batches equals each example with its adapter alone. (Prototypes: test_prototypes.py.)"""

from __future__ import annotations

import warnings

import pytest
import torch

from lorakit.lora import route as R
from lorakit.lora import per_example as S
from lorakit.lora.adapters import open_adapter
from lorakit.lora.arrow import Router, arrow_coefficients
from lorakit.lora.hooks import Fixed, LoraHooks
from lorakit.lora.prototypes import load_prototypes
from tests.helpers import make_peft_adapter

PROMPTS = ["Q: Who is the spouse of Tavi Moka? A:", "Q: Where does Nure Kalo live? A: in", "Q: x A:"]


@pytest.fixture(scope="module")
def library(make_tiny_model, tmp_path_factory):
    base = make_tiny_model("llama")
    d = tmp_path_factory.mktemp("route-lib")
    return base, [make_peft_adapter(base, d / f"a{i}", r=4, alpha=8, seed=10 + i, std=0.3) for i in range(3)]


def _base(path):
    from lorakit.models.load import load_causal_lm

    return load_causal_lm(path)


def _batch(tok):
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    return enc["input_ids"], enc["attention_mask"]


def _routed_logits(base, paths, method, top_k=1, temperature=1.0, library=None):
    model, tok = _base(base)
    adapters = [open_adapter(p) for p in paths]
    if method == "arrow":
        router = Router(model, adapters, [load_prototypes(a, library) for a in adapters], top_k, temperature)
    else:  # output-average
        router = LoraHooks(model, adapters, Fixed(1.0 / len(adapters)))
    ids, mask = _batch(tok)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask).logits
    router.remove()
    return out, router


# maths ------------------------------------------------------------------------------------------


def test_coefficients_are_a_softmax_over_the_top_k_scores():
    x = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    coeff, idx = arrow_coefficients(x, protos, top_k=2, temperature=0.5)
    assert idx.tolist() == [[0, 2], [1, 2]]
    want0 = torch.softmax(torch.tensor([1.0, 0.6]) / 0.5, 0)
    assert torch.allclose(coeff[0], torch.tensor([want0[0], 0.0, want0[1]]))
    assert torch.allclose(coeff.sum(1), torch.ones(2)) and coeff[1, 0] == 0


# equivalences ------------------------------------------------------------------------------------


@pytest.mark.parametrize("top_k,temperature", [(2, 1.0), (1, 1.0), (3, 0.5)])
def test_arrow_equals_peft_arrow(library, top_k, temperature):
    from peft import ArrowConfig, create_arrow_model

    base, paths = library
    ours, _ = _routed_logits(base, paths, "arrow", top_k, temperature)
    model, tok = _base(base)
    cfg = ArrowConfig(top_k=top_k, router_temperature=temperature, use_gks=False, rng_seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = create_arrow_model(model, [str(p) for p in paths], cfg).eval()
    protos = [load_prototypes(open_adapter(p)) for p in paths]
    ids, mask = _batch(tok)
    with torch.inference_mode():
        peft_model(input_ids=ids, attention_mask=mask)  # PEFT builds its power-iteration prototypes
        n = 0
        for name, module in peft_model.named_modules():
            if hasattr(module, "lora_arrow") and "arrow_router" in module.lora_arrow:
                layer = module.lora_arrow["arrow_router"]
                key = name.removeprefix("base_model.model.")
                mine = torch.stack([p[key] for p in protos])
                # PEFT's 15 power iterations stop short on random factors (|cos| ~ 0.84 seen);
                # iterated to convergence, its vectors are ours up to sign
                names = layer.task_adapter_names
                if top_k != 2:
                    layer.prototypes.copy_(mine)
                    n += 1
                    continue
                converged = torch.stack([layer.top_right_singular_vec_from_BA(
                    module.lora_A[e].weight, module.lora_B[e].weight, iters=1000) for e in names])
                assert torch.allclose((converged * mine).sum(1).abs(), torch.ones(3), atol=1e-4), key
                layer.prototypes.copy_(mine)  # the exact SVD vectors, so outputs compare at 1e-5
                n += 1
        assert n == 14
        want = peft_model(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(ours, want, atol=1e-5), float((ours - want).abs().max())


def test_one_adapter_top1_equals_that_adapter_alone(library):
    from lorakit.models.load import attach_adapter

    base, paths = library
    ours, router = _routed_logits(base, paths[:1], "arrow", 1)
    model, tok = _base(base)
    alone = attach_adapter(model, paths[0]).eval()
    ids, mask = _batch(tok)
    with torch.inference_mode():
        want = alone(input_ids=ids, attention_mask=mask).logits
        plain = _base(base)[0](input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(ours, want, atol=1e-5)
    assert not torch.allclose(ours, plain, atol=1e-3)  # the adapter does change the output
    assert len(router.by_prompt) == 3
    cfg = R.RouteConfig(model=str(base), data="-", adapters=[str(paths[0])])
    for key, st in router.by_prompt.items():  # every real token, 7 modules per layer
        assert st["layers"] == {"0": [7.0 * len(key)], "1": [7.0 * len(key)]}
        assert R.routing_record(cfg, ["a"], st)["weights"] == [1.0]


def test_gpt2_conv1d_layers_route_like_the_adapter_alone(make_tiny_model, tmp_path):
    """fan_in_fan_out adapters on GPT-2 Conv1D: the hook sees x and adds s B A x, as PEFT does."""
    from lorakit.models.load import attach_adapter

    base = make_tiny_model("gpt2")
    path = make_peft_adapter(base, tmp_path / "g", r=4, alpha=8, seed=1, std=0.3)
    ours, _ = _routed_logits(base, [path], "arrow", 1)
    model, tok = _base(base)
    ids, mask = _batch(tok)
    with torch.inference_mode():
        want = attach_adapter(model, path).eval()(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(ours, want, atol=1e-5)


def test_output_average_equals_all_adapters_active_at_one_over_n(library):
    from lorakit.models.load import attach_adapter

    base, paths = library
    ours, _ = _routed_logits(base, paths[:2], "output-average")
    model, tok = _base(base)
    peft_model = attach_adapter(model, paths[0], name="a0")
    peft_model.load_adapter(str(paths[1]), adapter_name="a1")
    peft_model.base_model.set_adapter(["a0", "a1"])
    for module in peft_model.modules():
        if hasattr(module, "scaling") and isinstance(module.scaling, dict):
            for k in module.scaling:
                module.scaling[k] /= 2
    ids, mask = _batch(tok)
    with torch.inference_mode():
        want = peft_model.eval()(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(ours, want, atol=1e-5)


def test_different_ranks_mix_with_their_own_scalings(make_tiny_model, tmp_path):
    """k = N, T huge -> equal weights 1/N: Arrow then equals output-average, across ranks 4 and 2."""
    base = make_tiny_model("llama")
    paths = [make_peft_adapter(base, tmp_path / "a", r=4, alpha=8, seed=1, std=0.3),
             make_peft_adapter(base, tmp_path / "b", r=2, alpha=6, seed=2, std=0.3)]
    arrow, _ = _routed_logits(base, paths, "arrow", 2, 1e9)
    avg, _ = _routed_logits(base, paths, "output-average")
    assert torch.allclose(arrow, avg, atol=1e-5)


# per-example selection ----------------------------------------------------------------------------


def _per_example_run(base, paths, tmp_path, method="min-entropy"):
    import json

    from tests.helpers import qa_records

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in qa_records(8, seed=5)))
    cfg = R.RouteConfig(model=str(base), data=str(data), adapters=[str(p) for p in paths], method=method,
                        batch_size=3, max_new_tokens=5)
    out, _, _ = R.run_route(cfg)
    return out, [[str(p) for p in paths].index(r["routing"]["chosen"]) for r in out]


def _check_against_each_adapter_alone(base, paths, out, chosen, entropy=True):
    from lorakit.models.generate import generate
    from lorakit.models.load import attach_adapter

    prompts = [r["prompt"] for r in out]
    for i, path in enumerate(paths):
        model, tok = _base(base)
        alone = attach_adapter(model, path).eval()
        if entropy:
            ent = S.prompt_entropy(alone, tok, prompts, batch_size=5)
            assert torch.allclose(torch.tensor([r["routing"]["entropy"][i] for r in out]), ent, atol=1e-4)
        if mine := [j for j, c in enumerate(chosen) if c == i]:
            want = generate(alone, tok, [prompts[j] for j in mine], max_new_tokens=5)
            assert [out[j]["prediction"] for j in mine] == want


def _rotate(real):
    def rotate(*args, **kw):  # random adapters often agree on one choice: force a mix in every batch
        _, table = real(*args, **kw)
        return [i % 3 for i in range(table.shape[0])], table

    return rotate


def test_min_entropy_picks_the_most_confident_adapter(library, tmp_path):
    base, paths = library
    out, chosen = _per_example_run(base, paths, tmp_path)
    for r, c in zip(out, chosen):
        assert r["routing"]["entropy"][c] == min(r["routing"]["entropy"])
        assert r["routing"]["weights"] == [1.0 if i == c else 0.0 for i in range(3)]
    _check_against_each_adapter_alone(base, paths, out, chosen)


def test_mixed_batches_equal_each_example_with_its_adapter_alone(library, tmp_path, monkeypatch):
    base, paths = library
    monkeypatch.setattr(S, "min_entropy_choice", _rotate(S.min_entropy_choice))
    out, chosen = _per_example_run(base, paths, tmp_path)
    assert chosen == [i % 3 for i in range(8)]
    _check_against_each_adapter_alone(base, paths, out, chosen)


@pytest.mark.parametrize("span", ["last", "prompt"])
def test_centroid_scores_and_entropy_by_hand(library, span):
    """One prompt, no padding: |cos(x̄, prototype)| per module averaged over the modules, x̄ = the
    module input at the last token or its mean over the tokens; the entropy at the same span."""
    base, paths = library
    model, tok = _base(base)
    adapters = [open_adapter(p) for p in paths]
    protos = [load_prototypes(a) for a in adapters]
    batched = S.centroid_scores(model, tok, adapters, protos, PROMPTS, batch_size=3, span=span)  # padded batch
    entropy = S.prompt_entropy(model, tok, PROMPTS, batch_size=3, span=span)
    inputs = {}
    handles = [model.get_submodule(n).register_forward_pre_hook(lambda m, a, n=n: inputs.__setitem__(n, a[0][0]))
               for n in adapters[0].modules]
    pick = (lambda t: t[-1]) if span == "last" else (lambda t: t.mean(0))
    for j, prompt in enumerate(PROMPTS):
        with torch.inference_mode():
            logp = model(**tok(prompt, return_tensors="pt")).logits[0].log_softmax(-1)
        want = [sum(float(torch.nn.functional.cosine_similarity(pick(x.double()), p[n].double(), dim=0).abs())
                    for n, x in inputs.items()) / len(inputs) for p in protos]
        assert torch.allclose(batched[j], torch.tensor(want, dtype=torch.float64), atol=1e-5), j
        assert float(entropy[j]) == pytest.approx(float(pick(-(logp.exp() * logp).sum(-1))), abs=1e-4)
    for h in handles:
        h.remove()
    assert batched.shape == (3, 3) and bool(((batched > 0) & (batched <= 1)).all())


def test_centroid_picks_the_best_score_and_is_deterministic(library, tmp_path):
    base, paths = library
    out, chosen = _per_example_run(base, paths, tmp_path, "centroid")
    for r, c in zip(out, chosen):
        assert r["routing"]["score"][c] == max(r["routing"]["score"])
        assert r["routing"]["weights"] == [1.0 if i == c else 0.0 for i in range(3)]
    again, _ = _per_example_run(base, paths, tmp_path, "centroid")
    assert again == out
    _check_against_each_adapter_alone(base, paths, out, chosen, entropy=False)


def test_centroid_mixed_batches_equal_each_example_with_its_adapter_alone(library, tmp_path, monkeypatch):
    base, paths = library
    monkeypatch.setattr(S, "centroid_choice", _rotate(S.centroid_choice))
    out, chosen = _per_example_run(base, paths, tmp_path, "centroid")
    assert chosen == [i % 3 for i in range(8)]
    _check_against_each_adapter_alone(base, paths, out, chosen, entropy=False)


FAMILIES = ["llama", "qwen2", "mistral", "gpt2", "gptneox", "phi3", "opt"]


@pytest.mark.parametrize("method", ["min-entropy", "centroid"])
@pytest.mark.parametrize("arch", FAMILIES)
def test_per_example_routing_in_every_family(make_tiny_model, tmp_path, monkeypatch, arch, method):
    """Every family the README names: a mix of choices in every batch (mixed-adapter batches, or
    adapter-at-a-time where PEFT cannot mix, e.g. OPT) predicts what each adapter alone does."""
    base = make_tiny_model(arch)
    paths = [make_peft_adapter(base, tmp_path / f"a{i}", r=4, alpha=8, seed=20 + i, std=0.3) for i in range(3)]
    name = "min_entropy_choice" if method == "min-entropy" else "centroid_choice"
    monkeypatch.setattr(S, name, _rotate(getattr(S, name)))
    out, chosen = _per_example_run(base, paths, tmp_path, method)
    assert chosen == [i % 3 for i in range(8)]
    _check_against_each_adapter_alone(base, paths, out, chosen, entropy=method == "min-entropy")
