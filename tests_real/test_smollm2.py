"""The converted SmolLM2-135M-Instruct through every adapter command: train-lora on chat records,
eval --adapter (= PEFT's generate), merge, route, inspect."""

from __future__ import annotations

import json
import math

from tests_real.conftest import THREADS
from tests_real.helpers import lorakit

MAX_NEW = "12"


def _messages(path):
    return [json.loads(line)["messages"] for line in path.read_text().splitlines()]


def test_converted_folder(real_model):
    from transformers import AutoTokenizer

    meta = json.loads((real_model / "lorakit.json").read_text())
    assert meta["command"] == "convert" and meta["gguf"]["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert meta["gguf"]["file_type"] == "MOSTLY_Q4_1" and meta["gguf"]["tensor_types"] == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    assert meta["weights"]["dequantized"] is True and meta["weights"]["parameters"] == 134_515_008
    config = json.loads((real_model / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    tok = AutoTokenizer.from_pretrained(str(real_model))
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n") and "SmolLM" in text


def test_train_lora_on_chat_records(adapters, work):
    for name, folder in adapters.items():
        summary = json.loads((work / f"{name}.summary.json").read_text())
        assert summary["examples"] == 6 and summary["steps"] == 8, summary
        assert math.isfinite(summary["final_loss"]) and summary["final_loss"] < summary["first_loss"], summary
        assert {"adapter_config.json", "adapter_model.safetensors", "lorakit.json"} <= {p.name for p in folder.iterdir()}
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["r"] == 4 and len(config["target_modules"]) == 7


def test_eval_adapter_predictions_equal_peft_generate(real_model, adapters, work):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = work / "capitals.jsonl"
    lorakit("eval", real_model, data, "--adapter", adapters["capitals"], "--out", work / "eval-capitals",
            "--max-new-tokens", MAX_NEW, "--batch-size", "4", "--threads", THREADS, "--quiet")
    samples = [json.loads(line) for line in (work / "eval-capitals" / "samples.jsonl").read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(str(real_model))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(real_model)), str(adapters["capitals"])).eval()
    expected = []
    for messages in _messages(data):  # one prompt at a time: no padding, HF's own greedy loop
        ids = tok.apply_chat_template(messages[:-1], add_generation_prompt=True, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=int(MAX_NEW),
                                 do_sample=False, pad_token_id=tok.pad_token_id)
        expected.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split("\n", 1)[0].strip())
    assert [s["prediction"] for s in samples] == expected
    results = json.loads((work / "eval-capitals" / "results.json").read_text())
    assert results["config"]["model_args"]  # lm-eval style file written


def test_merge_cat_task_arithmetic_into_base(real_model, adapters, work):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    a, b = adapters["capitals"], adapters["jobs"]
    lorakit("merge", a, b, "--method", "cat", "--out", work / "cat", "--threads", THREADS, "--quiet")
    assert json.loads((work / "cat" / "adapter_config.json").read_text())["r"] == 8
    lorakit("merge", a, b, "--method", "task-arithmetic", "--rank", "4", "--out", work / "ta", "--threads", THREADS, "--quiet")
    assert json.loads((work / "ta" / "adapter_config.json").read_text())["r"] == 4
    lorakit("merge", a, b, "--method", "cat", "--into-base", real_model, "--out", work / "merged-model", "--threads", THREADS,
            "--quiet")
    merged = AutoModelForCausalLM.from_pretrained(str(work / "merged-model")).eval()
    peft_cat = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(real_model)), str(work / "cat")).eval()
    ids = torch.tensor([[1, 4093, 198, 1780, 314, 260, 3575, 282, 37, 30, 2, 198, 1, 520, 9531, 198]])
    with torch.inference_mode():
        torch.testing.assert_close(merged(ids).logits, peft_cat(ids).logits, atol=2e-3, rtol=1e-3)
    lorakit("train-lora", work / "merged-model", work / "jobs.jsonl", "--out", work / "on-merged", "--epochs", "1",
            "--rank", "4", "--batch-size", "6", "--threads", THREADS, "--quiet")  # the merged folder is a base like any other


def test_route_arrow_and_min_entropy(real_model, adapters, work):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(real_model))
    mixed = []
    for path in (work / "capitals.jsonl", work / "jobs.jsonl"):
        for messages in _messages(path)[:2]:
            prompt = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
            mixed.append({"prompt": prompt, "completion": messages[-1]["content"]})
    data = work / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in mixed))
    library = [x for f in adapters.values() for x in ("--adapter", f)]
    for method in ("arrow", "min-entropy"):
        out = work / f"route-{method}.jsonl"
        result = lorakit("route", real_model, data, *library, "--method", method, "--max-new-tokens", MAX_NEW,
                         "--batch-size", "4", "--threads", THREADS, "--out", out, "--json", "--quiet")
        summary = json.loads(result.stdout)
        assert summary["examples"] == 4 and summary["method"] == method, summary
        preds = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(preds) == 4 and all(p["routing"]["method"] == method for p in preds)
        weights = [p["routing"]["weights"] for p in preds]
        assert all(len(w) == 2 and math.isclose(sum(w), 1.0, abs_tol=1e-3) for w in weights), weights
        scored = lorakit("eval", "--predictions", out, "--json", "--quiet")
        assert json.loads(scored.stdout)  # the predictions file scores like any other


def test_inspect(adapters):
    result = lorakit("inspect", adapters["capitals"], adapters["jobs"], "--threads", THREADS, "--json", "--quiet")
    report = json.loads(result.stdout)
    assert len(report["modules"]) == 30 * 7 and len(report["adapters"]) == 2 and len(report["pairs"]) == 1
    assert 0 < report["uniform"]["cross_share"] < 1
