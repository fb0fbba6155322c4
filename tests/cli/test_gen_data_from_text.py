"""``lorakit gen-data faithfulness --from-text`` through the real CLI; outputs read back with the
library's loaders; every bad input refused with its exit code and one line, nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.data.text import sentences
from lorakit.io import PROVENANCE, read_json, read_jsonl, sha256_path
from tests.data.texts import TEXTS

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def gen(out, *args: str, input: str | bytes | None = None):
    return runner.invoke(app, ["gen-data", "faithfulness", "--out", str(out), *map(str, args)], input=input)


@pytest.fixture
def texts(tmp_path):
    out = {}
    for lang, text in TEXTS.items():
        out[lang] = tmp_path / f"{lang}.txt"
        out[lang].write_text(text, encoding="utf-8")
    return out


def test_help_lists_the_text_options():
    result = runner.invoke(app, ["gen-data", "faithfulness", "--help"])
    assert result.exit_code == 0
    for flag in ("--from-text", "--pairs", "--lang", "--seed", "--force", "--json"):
        assert flag in result.stdout


@pytest.mark.parametrize("lang", ["pl", "vi", "ka"])
def test_happy_path(tmp_path, texts, lang):
    out = tmp_path / "d"
    result = gen(out, "--from-text", texts[lang], "--lang", lang, "--pairs", 8, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"]["test.jsonl"] == 8 and sum(summary["perturbations"].values()) == 8
    assert sorted(p.name for p in out.iterdir()) == ["corpus.txt", "lorakit.json", "manifest.json", "test.jsonl"]
    records = read_jsonl(out / "test.jsonl", required=("source", "perturbation"))
    corpus = (out / "corpus.txt").read_text(encoding="utf-8")
    assert len(records) == 8 and len(corpus.splitlines()) == summary["counts"]["corpus.txt"]
    assert not any(s in corpus for r in records for s in sentences(r["source"], lang))
    provenance = read_json(out / PROVENANCE)
    assert provenance["command"] == "gen-data faithfulness" and provenance["options"]["pairs"] == 8
    assert provenance["inputs"] == [{"path": str(texts[lang]), "sha256": sha256_path(texts[lang])}]
    assert f"wrote {out}: test.jsonl 8 pairs (negation" in result.stderr


@pytest.mark.parametrize("lang", ["pl", "vi", "ka"])
def test_real_text_sample(tmp_path, lang):
    """The UDHR in each language (examples/real-text): real text, with real abbreviations and lengths."""
    sample = ROOT / "examples" / "real-text" / f"udhr-{lang}.txt"
    result = gen(tmp_path / "d", "--from-text", sample, "--lang", lang, "--pairs", 6, "--json")
    assert result.exit_code == 0, result.output
    records = read_jsonl(tmp_path / "d" / "test.jsonl", required=("source",))
    assert len(records) == 6 and all(r["lang"] == lang and len(r["candidates"]) == 2 for r in records)
    corpus = (tmp_path / "d" / "corpus.txt").read_text(encoding="utf-8")
    assert not any(s in corpus for r in records for s in sentences(r["source"], lang))


def test_stdin_and_determinism(tmp_path, texts):
    assert gen(tmp_path / "a", "--from-text", texts["vi"], "--pairs", 8, "-q").exit_code == 0
    result = gen(tmp_path / "b", "--from-text", "-", "--pairs", 8, "-q", input=TEXTS["vi"].encode())
    assert result.exit_code == 0, result.output
    for name in ("test.jsonl", "corpus.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    result = gen(tmp_path / "a", "--from-text", texts["vi"], "--pairs", 8, "--seed", 1)
    assert result.exit_code == 4 and "--force" in result.stderr
    assert gen(tmp_path / "a", "--from-text", texts["vi"], "--pairs", 8, "--seed", 1, "--force", "-q").exit_code == 0
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "b" / "test.jsonl").read_bytes()


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("data", "lang", "reason"), [
    (b"", "pl", "empty (no text)"),
    (b"\n \n\t\n", "pl", "empty (no text)"),
    (b"PK\x03\x04\x00\x00binary", "pl", "binary file (NUL bytes), not text"),
    ("Zażółć gęślą jaźń.".encode("cp1250"), "pl", "not UTF-8 text"),
    (TEXTS["pl"].encode(), "ka", "not Georgian: 0% of its letters are Georgian, 100% Latin"),
    ("Это русский текст. Он написан кириллицей, а не латиницей.\n".encode(), "pl", "not Polish: 0% of its letters are Latin, 100% Cyrillic"),
    (b"This is plain English text. It has no Vietnamese letters at all.\n", "vi", "not Vietnamese: 0% of its words have Vietnamese letters"),
])
def test_bad_text_exits_3_with_one_line_naming_the_file(tmp_path, data, lang, reason):
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    out = tmp_path / "d"
    result = gen(out, "--from-text", path, "--lang", lang, "--pairs", 50)
    assert result.exit_code == 3, result.output
    assert one_line(result) == f"error: {path}: {reason}" or one_line(result).startswith(f"error: {path}: {reason}")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["input.txt"]


def test_too_short_text_exits_3_saying_what_it_found(tmp_path, texts):
    out = tmp_path / "d"
    result = gen(out, "--from-text", texts["ka"], "--lang", "ka", "--pairs", 50)
    assert result.exit_code == 3
    line = one_line(result)
    found = re.fullmatch(rf"error: {re.escape(str(texts['ka']))}: only (\d+) passages of 2–4 sentences that take a "
                         r"minimal edit \(13 paragraphs, 39 sentences, 39 usable\); --pairs 50 needs 50", line)
    assert found and 0 < int(found.group(1)) <= 13, line
    assert not out.exists()


def test_missing_text_exits_3(tmp_path):
    result = gen(tmp_path / "d", "--from-text", tmp_path / "nope.txt")
    assert result.exit_code == 3 and one_line(result) == f"error: {tmp_path / 'nope.txt'}: no such file"


def test_stdin_is_named_in_errors(tmp_path):
    result = gen(tmp_path / "d", "--from-text", "-", "--lang", "ka", input=b"")
    assert result.exit_code == 3 and one_line(result) == "error: <stdin>: empty (no text)"


@pytest.mark.parametrize(("args", "message"), [
    (["--pairs", "8"], "--pairs needs --from-text"),
    (["--from-text", "x.txt", "--corpus-mb", "1"], "--corpus-mb: not with --from-text"),
    (["--from-text", "x.txt", "--test-size", "9", "--perturbation", "negation"], "--test-size, --perturbation: not with --from-text"),
    (["--from-text", "x.txt", "--pairs", "0"], "--pairs must be in [1, 1000000], not 0"),
])
def test_option_conflicts_exit_2(tmp_path, args, message):
    result = gen(tmp_path / "d", *args)
    assert result.exit_code == 2 and message in one_line(result)
    assert not (tmp_path / "d").exists()


def test_out_on_the_text_is_refused(tmp_path, texts):
    result = gen(texts["pl"], "--from-text", texts["pl"], "--lang", "pl", "--force")
    assert result.exit_code == 2 and "is the input --from-text" in one_line(result)
    assert texts["pl"].read_text(encoding="utf-8") == TEXTS["pl"]


def test_without_from_text_nothing_changes(tmp_path):
    result = gen(tmp_path / "d", "--lang", "pl", "--corpus-mb", "0.01", "--test-size", "5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["test.jsonl"] == 5
    assert "documents" in result.stderr and "(negation" not in result.stderr
