"""train-lora and eval on the data users have: chat records, datasets folders, Parquet, JSON arrays,
other field names (and the README's jq recipe for Alpaca-style records)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from tests.helpers import qa_records

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
FAST = ["--epochs", "2", "--batch-size", "4", "--rank", "4", "--alpha", "8", "--threads", "1", "--device", "cpu", "--quiet"]
TEMPLATE = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}[assistant]{% endif %}")
SYSTEM = "Answer in a few words."


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _chat(r):
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": r["prompt"]},
                         {"role": "assistant", "content": r["completion"]}], "id": r.get("id")}


def _rendered(tokenizer, r):
    """The prompt/completion record a chat record stands for, rendered by hand."""
    return {"prompt": f"{tokenizer.bos_token}[system] {SYSTEM}\n[user] {r['prompt']}\n[assistant]",
            "completion": r["completion"]}


@pytest.fixture(scope="module")
def chat_model(tiny_llama_dir, tmp_path_factory):
    """The tiny Llama with a chat template on its tokenizer."""
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("chat") / "llama-chat"
    shutil.copytree(tiny_llama_dir, out)
    tok = AutoTokenizer.from_pretrained(str(out))
    tok.chat_template = TEMPLATE
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def records():
    return qa_records(8, seed=3)


def train(base, data, out, *extra):
    result = runner.invoke(app, ["train-lora", str(base), str(data), "--out", str(out), *FAST, *extra])
    assert result.exit_code == 0, result.output
    return (Path(out) / "adapter_model.safetensors").read_bytes()


def test_chat_records_train_as_their_rendered_prompt_and_last_turn(chat_model, records, tmp_path):
    from transformers import AutoTokenizer

    from lorakit.models.encode import encode_prompt

    tok = AutoTokenizer.from_pretrained(str(chat_model))
    by_hand = [_rendered(tok, r) for r in records]
    assert encode_prompt(tok, by_hand[0]["prompt"]).count(tok.bos_token_id) == 1  # the template's BOS, not a second
    chat = train(chat_model, _jsonl(tmp_path / "chat.jsonl", [_chat(r) for r in records]), tmp_path / "a")
    plain = train(chat_model, _jsonl(tmp_path / "plain.jsonl", by_hand), tmp_path / "b")
    assert chat == plain


def test_eval_on_chat_records_scores_the_last_assistant_turn(chat_model, records, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(chat_model))
    chat = _jsonl(tmp_path / "qa.jsonl", [_chat(r) for r in records])
    (tmp_path / "plain").mkdir()
    plain = _jsonl(tmp_path / "plain" / "qa.jsonl", [_rendered(tok, r) for r in records])
    outs = []
    for data, out in ((chat, tmp_path / "e1"), (plain, tmp_path / "e2")):
        result = runner.invoke(app, ["eval", str(chat_model), str(data), "--out", str(out), "--max-new-tokens", "4",
                                     "--threads", "1", "--quiet"])
        assert result.exit_code == 0, result.output
        outs.append([json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()])
    assert [s["prompt"] for s in outs[0]] == [_rendered(tok, r)["prompt"] for r in records]
    assert [(s["target"], s["prediction"]) for s in outs[0]] == [(s["target"], s["prediction"]) for s in outs[1]]


def test_chat_records_need_a_chat_template(tiny_llama_dir, records, tmp_path):
    data = _jsonl(tmp_path / "chat.jsonl", [_chat(r) for r in records])
    for cmd in (["train-lora", str(tiny_llama_dir), str(data), "--out", str(tmp_path / "a"), *FAST],
                ["eval", str(tiny_llama_dir), str(data), "--out", str(tmp_path / "e")]):
        result = runner.invoke(app, cmd)
        assert result.exit_code == 3, result.output
        assert f"{tiny_llama_dir}: the tokenizer has no chat template" in result.stderr
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.jsonl"]


def test_datasets_folder_parquet_and_json_array_train_like_jsonl(tiny_llama_dir, records, tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = train(tiny_llama_dir, _jsonl(tmp_path / "d.jsonl", records), tmp_path / "a")
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "hfds"))
    assert train(tiny_llama_dir, tmp_path / "hfds", tmp_path / "b") == jsonl
    pq.write_table(pa.Table.from_pylist(records), str(tmp_path / "d.parquet"))
    assert train(tiny_llama_dir, tmp_path / "d.parquet", tmp_path / "c") == jsonl
    (tmp_path / "d.json").write_text(json.dumps(records, indent=1))
    assert train(tiny_llama_dir, tmp_path / "d.json", tmp_path / "d") == jsonl


def test_other_field_names(tiny_llama_dir, records, tmp_path):
    jsonl = train(tiny_llama_dir, _jsonl(tmp_path / "d.jsonl", records), tmp_path / "a")
    alpaca = _jsonl(tmp_path / "alpaca.jsonl", [{"instruction": r["prompt"], "output": r["completion"]} for r in records])
    assert train(tiny_llama_dir, alpaca, tmp_path / "b", "--prompt-field", "instruction",
                 "--completion-field", "output") == jsonl
    result = runner.invoke(app, ["eval", str(tiny_llama_dir), str(alpaca), "--prompt-field", "instruction",
                                 "--completion-field", "output", "--max-new-tokens", "2", "--threads", "1", "--quiet",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n-samples"]["alpaca"]["effective"] == len(records)
    result = runner.invoke(app, ["train-lora", str(tiny_llama_dir), str(alpaca), "--out", str(tmp_path / "c"), *FAST])
    assert result.exit_code == 3 and f"{alpaca}:1: missing field(s) 'prompt', 'completion'" in result.stderr
    result = runner.invoke(app, ["train-lora", str(tiny_llama_dir), str(alpaca), "--out", str(tmp_path / "c"),
                                 "--prompt-field", "output", "--completion-field", "output", *FAST])
    assert result.exit_code == 2 and "must differ" in result.stderr


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_readme_jq_recipe_for_alpaca(tmp_path):
    recipe = re.search(r"^(jq .*alpaca\.json > data\.jsonl)$", (ROOT / "README.md").read_text(), re.M)
    assert recipe, "README lost the jq recipe for Alpaca-style records"
    (tmp_path / "alpaca.json").write_text(json.dumps([
        {"instruction": "Name the city.", "input": "Tavi lives in Arvo.", "output": "Arvo"},
        {"instruction": "Say hello.", "input": "", "output": "Hello"}]))
    subprocess.run(recipe.group(1), shell=True, cwd=tmp_path, check=True)
    got = [json.loads(line) for line in (tmp_path / "data.jsonl").read_text().splitlines()]
    assert got == [{"prompt": "Name the city.\n\nTavi lives in Arvo.\n\n", "completion": "Arvo"},
                   {"prompt": "Say hello.\n\n", "completion": "Hello"}]


@pytest.mark.parametrize("content, message", [
    ('{"messages": []}\n', "x.jsonl:1: 'messages' must be a non-empty list"),
    ('\n{"messages": [{"role": "user", "content": "hi"}]}\n', "x.jsonl:2: the last of 'messages' must be the assistant's turn"),
    ('{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]}\n',
     "x.jsonl:1: 'messages' item 1 must be an object with string 'role' and 'content'"),
    ('[{"prompt": "a", "completion": "b"}, 7]', "x.jsonl: item 2: expected a JSON object, got int"),
    ("PAR1 not really", "x.jsonl: not a readable Parquet file"),
    ("", "x.jsonl: no records"),
])
def test_bad_records_exit_3_naming_the_place(tiny_llama_dir, tmp_path, content, message):
    bad = tmp_path / "x.jsonl"
    bad.write_text(content)
    result = runner.invoke(app, ["train-lora", str(tiny_llama_dir), str(bad), "--out", str(tmp_path / "a"), *FAST])
    assert result.exit_code == 3, result.output
    assert f"{tmp_path}/{message}" in result.stderr
    assert not (tmp_path / "a").exists()


def test_a_dataset_dict_with_several_splits_names_them(tiny_llama_dir, records, tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list(records),
                          "test": datasets.Dataset.from_list(records[:2])}).save_to_disk(str(tmp_path / "dd"))
    result = runner.invoke(app, ["train-lora", str(tiny_llama_dir), str(tmp_path / "dd"), "--out", str(tmp_path / "a"), *FAST])
    assert result.exit_code == 3, result.output
    assert "a DatasetDict with splits train, test: give one split's folder" in result.stderr
    assert train(tiny_llama_dir, tmp_path / "dd" / "train", tmp_path / "b")


def test_route_reads_chat_records_and_chat_shots(chat_model, records, tmp_path):
    """route takes the records train-lora and eval take: chats (ending with the assistant's turn or
    the user's) are routed on their rendered prompt, and lorahub's shots may be chats too."""
    from transformers import AutoTokenizer

    from lorakit.io import read_jsonl
    from tests.helpers import make_peft_adapter

    tok = AutoTokenizer.from_pretrained(str(chat_model))
    adapters = [make_peft_adapter(chat_model, tmp_path / n, r=2, alpha=4, seed=s, std=0.3) for n, s in (("a", 1), ("b", 2))]
    unanswered = {"messages": _chat(records[0])["messages"][:-1]}
    chat = _jsonl(tmp_path / "chat.jsonl", [_chat(r) for r in records[1:]] + [unanswered])
    plain = _jsonl(tmp_path / "plain.jsonl", [_rendered(tok, r) for r in records[1:]]
                   + [{"prompt": _rendered(tok, records[0])["prompt"]}])
    shots = [_chat(r) for r in records[:3]], [_rendered(tok, r) for r in records[:3]]
    lib = ["--adapter", adapters[0], "--adapter", adapters[1], "--max-new-tokens", "4", "--threads", "1", "--quiet"]
    for method, extra in (("arrow", []), ("lorahub", ["--lorahub-steps", "3", "--shots"])):
        outs = []
        for data, shot_records, name in ((chat, shots[0], "chat"), (plain, shots[1], "plain")):
            more = [*extra, _jsonl(tmp_path / f"shots-{name}.jsonl", shot_records)] if extra else []
            out = tmp_path / f"{method}-{name}.jsonl"
            result = runner.invoke(app, ["route", str(chat_model), str(data), *map(str, lib), "--method", method,
                                         *map(str, more), "--out", str(out)])
            assert result.exit_code == 0, result.output
            outs.append(read_jsonl(out))
        assert [r["prompt"] for r in outs[0]] == [r["prompt"] for r in outs[1]]
        assert [(r["prediction"], r["routing"]) for r in outs[0]] == [(r["prediction"], r["routing"]) for r in outs[1]]
        assert [r.get("completion") for r in outs[0]] == [r["completion"] for r in records[1:]] + [None]
