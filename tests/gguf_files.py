"""Tiny GGUF files written in code (gguf.GGUFWriter), for the ``convert`` tests.

``write_llama_gguf`` writes an HF Llama folder (the tiny test model and its SentencePiece tokenizer)
as llama.cpp's converter does: GGUF tensor names, q/k rows permuted into llama.cpp's rotary layout
(transformers permutes them back when it loads), the tokenizer as a "llama" vocabulary with its
merges, token types and special ids, and a chat template. Tensors are stored as F32 or quantised
with gguf's own NumPy quantisers (Q8_0 embeddings and Q4_1 matrices, as the shipped SmolLM2 file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
# llama.cpp's token types
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


def gguf_name(hf: str) -> str:
    """``model.layers.0.self_attn.q_proj.weight`` -> ``blk.0.attn_q.weight``."""
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    _, _, layer, *module, _ = hf.split(".")
    return f"blk.{layer}.{NAMES['.'.join(module)]}.weight"


def permute(w: Any, heads: int) -> Any:
    """llama.cpp's rotary layout for q/k rows (``convert_hf_to_gguf.LlamaModel.permute``)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(model_dir: Path, path: Path, quantize: bool = True, architecture: str = "llama") -> Path:
    """``model_dir`` (an HF Llama with tied embeddings + tokenizer) as a GGUF file at ``path``."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    w = gguf.GGUFWriter(str(path), architecture)
    # 1) hyperparameters
    w.add_name("tiny llama")
    w.add_block_count(config["num_hidden_layers"])
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(float(config.get("rope_parameters", {}).get("rope_theta", config.get("rope_theta", 10000.0))))
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_vocab_size(config["vocab_size"])
    w.add_rope_dimension_count(config["hidden_size"] // heads)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1 if quantize else gguf.LlamaFileType.ALL_F32)
    # 2) tokenizer: the BPE vocabulary in id order, its merges, types and special ids
    vocab = tokenizer["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    special = {t["content"] for t in tokenizer["added_tokens"] if t["special"]}
    types = [UNKNOWN if t == "<unk>" else CONTROL if t in special else
             BYTE if t.startswith("<0x") and t.endswith(">") else NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(len(tokens))])
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(config["bos_token_id"])
    w.add_eos_token_id(config["eos_token_id"])
    w.add_unk_token_id(vocab["<unk>"])
    w.add_pad_token_id(config["pad_token_id"])
    w.add_add_bos_token(True)
    w.add_chat_template(CHAT_TEMPLATE)
    # 3) tensors: q/k permuted; Q8_0 embeddings and Q4_1 matrices, or all F32
    for name, t in sorted(load_file(str(model_dir / "model.safetensors")).items()):
        t = t.astype(np.float32)
        if "q_proj" in name:
            t = permute(t, heads)
        elif "k_proj" in name:
            t = permute(t, kv_heads)
        qtype = gguf.GGMLQuantizationType.F32
        if quantize and t.ndim == 2:
            qtype = gguf.GGMLQuantizationType.Q8_0 if "embed" in name else gguf.GGMLQuantizationType.Q4_1
        data = t if qtype == gguf.GGMLQuantizationType.F32 else gguf.quants.quantize(t, qtype)
        w.add_tensor(gguf_name(name), data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_empty_gguf(path: Path, architecture: str) -> Path:
    """A GGUF file with a header naming ``architecture`` and no tensors."""
    import gguf

    w = gguf.GGUFWriter(str(path), architecture)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
