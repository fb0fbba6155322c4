"""train-lora vs Hugging Face Trainer + PEFT on the same tiny model and data, in one process.

Both sides: the same Llama built from a config (seeded), the same generated QA records of varied
length, rank/alpha/lr/batch/epochs/clip/warmup/cosine, loss on the completion only (labels
from lorakit.models.encode.encode_example, padded DataCollatorForSeq2Seq-style), fp32 on CPU.
Each side is timed end to end (load base, wrap with PEFT, train, save the adapter); throughput
counts non-pad tokens. The last line is the ratio lorakit / Trainer.

    .venv/bin/python bench/train_lora.py [--records 512] [--epochs 3] [--threads 1] [--group-by-length] [--model PATH]

``--model runs/real/smollm2`` (the converted SmolLM2-135M-Instruct) trains on that checkpoint
instead, the records rendered as chats with its template (the same prompt/completion strings
for both sides); ``--model runs/real/smollm2 --records 64 --epochs 1 --batch-size 8`` takes a
few minutes on one thread.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/helpers.py: the generated names and records
sys.path.insert(0, str(ROOT / "bench"))

from common import add_model_arg, chat_records  # noqa: E402
from tests.helpers import build_tokenizer, qa_records  # noqa: E402


def varied_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """QA records whose prompts vary from ~10 to ~60 tokens (a context sentence of random length)."""
    rng = random.Random(seed)
    out = []
    for r in qa_records(n, seed):
        context = " ".join(f"{a['prompt'][3:-3]}{a['completion']}." for a in qa_records(rng.randint(0, 4), rng.randint(0, 10**6)))
        out.append({"prompt": f"{context} {r['prompt']}".strip(), "completion": r["completion"]})
    return out


def build_base(tmp: Path, hidden: int, layers: int) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    build_tokenizer(tmp / "tok")
    tok = AutoTokenizer.from_pretrained(str(tmp / "tok"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=4, intermediate_size=4 * hidden, max_position_embeddings=256,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=True)
    base = tmp / "base"
    LlamaForCausalLM(config).save_pretrained(str(base))
    tok.save_pretrained(str(base))
    return base


def run_lorakit(base: Path, data: Path, out: Path, a: argparse.Namespace) -> float:
    from lorakit.lora.train import LoraTrainConfig, train_lora

    cfg = LoraTrainConfig(base=base, data=str(data), out=out, rank=a.rank, alpha=2.0 * a.rank, lr=2e-3, epochs=a.epochs,
                          batch_size=a.batch_size, clip=1.0, warmup=0.03, device="cpu", seed=0)
    t0 = time.perf_counter()
    result = train_lora(cfg)
    seconds = time.perf_counter() - t0
    print(f"lorakit: {result.fit.steps} steps, loss {result.fit.first_loss:.3f} -> {result.fit.final_loss:.3f}, "
          f"{seconds:.2f} s end to end ({result.fit.seconds:.2f} s in steps)", file=sys.stderr)
    return seconds


def run_trainer(base: Path, records: list[dict[str, str]], out: Path, a: argparse.Namespace) -> float:
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                              TrainingArguments)

    from lorakit.models.encode import encode_example

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base))
    model = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    rows = []
    for r in records:
        ids, labels = encode_example(tok, r["prompt"], r["completion"])
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    args = TrainingArguments(
        output_dir=str(out / "trainer"), per_device_train_batch_size=a.batch_size, num_train_epochs=a.epochs,
        learning_rate=2e-3, lr_scheduler_type="cosine", warmup_steps=0.03, max_grad_norm=1.0, weight_decay=0.0,
        logging_steps=10**6, save_strategy="no", report_to="none", use_cpu=True, seed=0, data_seed=0,
        dataloader_num_workers=0, disable_tqdm=True,
        train_sampling_strategy="group_by_length" if a.group_by_length else "random",
    )
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                      data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100))
    metrics = trainer.train().metrics
    model.save_pretrained(str(out / "adapter"))
    seconds = time.perf_counter() - t0
    print(f"Trainer: loss {metrics.get('train_loss', float('nan')):.3f} (mean), {seconds:.2f} s end to end "
          f"({metrics['train_runtime']:.2f} s in train())", file=sys.stderr)
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=512)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--group-by-length", action="store_true", help="Give the Trainer length-grouped batches too.")
    add_model_arg(p)
    a = p.parse_args()

    import torch

    from lorakit.models.encode import encode_example
    from lorakit.runtime import quiet_libraries

    quiet_libraries()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = Path(a.model) if a.model else build_base(tmp, a.hidden, a.layers)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(base))
        records = chat_records(tok, varied_records(a.records))
        data = tmp / "data.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        tokens = a.epochs * sum(len(encode_example(tok, r["prompt"], r["completion"])[0]) for r in records)
        lk = tokens / run_lorakit(base, data, tmp / "lorakit", a)
        hf = tokens / run_trainer(base, records, tmp / "hf", a)
    print(f"model: {a.model or f'tiny Llama (hidden {a.hidden}, {a.layers} layers)'}, {a.records} records, "
          f"{a.epochs} epoch(s), batch {a.batch_size}, rank {a.rank}, threads {a.threads}")
    print(f"lorakit train-lora: {lk:,.0f} tokens/s")
    print(f"HF Trainer + PEFT{' (group_by_length)' if a.group_by_length else ''}: {hf:,.0f} tokens/s")
    print(f"ratio lorakit/Trainer: {lk / hf:.2f}x")


if __name__ == "__main__":
    main()
