"""The lm-evaluation-harness ``results.json`` layout, written for every ``eval`` (generated,
predictions and rescored files alike)."""

from __future__ import annotations

import time
from typing import Any

from lorakit import __version__


def harness_results(results: dict[str, dict[str, Any]], configs: dict[str, dict[str, Any]], counts: dict[str, int],
                    config: dict[str, Any], seconds: float, **blocks: Any) -> dict[str, Any]:
    """``results`` (task -> metrics), ``configs`` (task -> its config; its ``metric_list`` names the
    metrics and whether higher is better), ``counts`` (task -> records scored), the run's ``config``;
    ``blocks`` (e.g. ``typology``) follow ``results``."""
    from importlib import metadata

    return {
        "results": results,
        **blocks,
        "configs": configs,
        "versions": {t: __version__ for t in results},
        "n-shot": {t: 0 for t in results},
        "higher_is_better": {t: {m["metric"]: m["higher_is_better"] for m in configs[t]["metric_list"]} for t in results},
        "n-samples": {t: {"original": counts[t], "effective": counts[t]} for t in results},
        "config": config,
        "date": time.time(),
        "transformers_version": metadata.version("transformers"),
        "lorakit_version": __version__,
        "total_evaluation_time_seconds": f"{seconds:.2f}",
    }
