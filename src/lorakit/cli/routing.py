"""Routing options shared by ``route`` and ``eval --route``: declared once, the same help on both."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakit.cli.common import choice
from lorakit.lora.lorahub import SEARCH_NAMES
from lorakit.lora.route_methods import METHODS
from lorakit.lora.select import SPANS

Method = choice(METHODS)
METHOD_HELP = ("arrow: per-token top-k routing on prototypes; output-average: every adapter, LoRA outputs averaged; "
               "min-entropy / centroid: per example, the adapter with the lowest prompt entropy / the prompt nearest "
               "its Arrow prototypes (mixed-adapter batches); lorahub: weights searched on --shots, then merged.")

Adapters = Annotated[list[str] | None, typer.Option("--adapter", help="A PEFT adapter folder of the library (repeat).", show_default=False)]
TopK = Annotated[int, typer.Option("--top-k", help="Arrow: adapters mixed per token and layer.")]
Temperature = Annotated[float, typer.Option("--temperature", help="Arrow: softmax temperature over the chosen adapters' scores.")]
Library = Annotated[str | None, typer.Option("--library", help="Folder caching Arrow prototypes (default: arrow_prototypes.safetensors beside each adapter).")]
Shots = Annotated[str | None, typer.Option("--shots", help="lorahub: few-shot prompt/completion JSONL the weights are fitted on.", show_default=False)]
LorahubSteps = Annotated[int, typer.Option("--lorahub-steps", help="lorahub: objective evaluations (search budget).")]
LorahubSearch = Annotated[choice(SEARCH_NAMES), typer.Option("--lorahub-search", help="lorahub: the optimiser: nevergrad's NGOpt (LoraHub's own; pip install 'lorakit[lorahub]') or es, lorakit's (1+λ)-ES (no extra).")]
Span = Annotated[choice(SPANS), typer.Option("--span", help="min-entropy / centroid: score the prompt's last position (where the answer starts) or `prompt`: the mean over all its positions.")]
