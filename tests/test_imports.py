"""Layering, read from the source: no import circle between modules or between folders, nothing in
``lora/`` imports ``evaluate/``, and the merge maths import no I/O. Every import statement counts,
those inside functions and under ``TYPE_CHECKING`` included."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "lorakit").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The lorakit modules ``name`` imports (a package's submodules named in ``from PKG import sub`` too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _folder(module: str) -> str:
    """``lorakit.lora.route`` -> ``lora``; a top-level module is its own folder (``lorakit.io`` -> ``io``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _assert_acyclic(graph: dict[str, set[str]]) -> None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"import circle: {' -> '.join(e.args[1])}")


def test_the_parser_sees_the_imports():
    assert "lorakit.lora.adapters" in GRAPH["lorakit.lora.route"]
    assert "lorakit.lora.lorahub" in GRAPH["lorakit.lora.route_methods"]  # from lorakit.lora import lorahub


def test_a_circle_is_named():
    with pytest.raises(pytest.fail.Exception, match="import circle: (a -> b -> a|b -> a -> b)"):
        _assert_acyclic({"a": {"b"}, "b": {"a"}, "c": {"a"}})


def test_no_import_circle_between_modules():
    _assert_acyclic(GRAPH)


def test_no_import_circle_between_folders():
    folders: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        folders.setdefault(_folder(module), set()).update(_folder(t) for t in targets if _folder(t) != _folder(module))
    _assert_acyclic(folders)


def test_lora_imports_nothing_from_evaluate():
    wrong = sorted((m, t) for m, ts in GRAPH.items() for t in ts if _folder(m) == "lora" and _folder(t) == "evaluate")
    assert not wrong


def test_merge_maths_do_no_io():
    """``inspect``, ``lorahub`` and the prototypes import the maths from a module without I/O."""
    assert GRAPH["lorakit.lora.merge_math"] <= {"lorakit.errors"}
    for user in ("lorakit.lora.diagnostics", "lorakit.lora.lorahub", "lorakit.lora.prototypes"):
        assert "lorakit.lora.merge" not in GRAPH[user], user
