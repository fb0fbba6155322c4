"""Sharding: block-aligned slices, and gather's checks (complete, one run, unchanged) before it concatenates."""

import json

import pytest
from typer.testing import CliRunner

from lorakit.cli import app
from lorakit.errors import UsageError
from lorakit.models.generate import WINDOW_BATCHES, batches
from lorakit.shard import Shard, parse_shard, write_sidecar

runner = CliRunner()


@pytest.mark.parametrize("n,count,block", [(0, 3, 4), (10, 3, 4), (100, 7, 16), (5, 8, 1), (64, 2, 32)])
def test_spans_tile_the_input_on_block_boundaries(n, count, block):
    spans = [Shard(i, count).span(n, block) for i in range(count)]
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(lo % block == 0 or lo == n for lo, _ in spans)
    sizes = [hi - lo for lo, hi in spans]
    assert max(sizes) - min(sizes) <= block  # evenly spread, whole blocks


def test_parse_shard():
    assert parse_shard("1/4") == Shard(1, 4)
    assert parse_shard(None) is None
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(UsageError, match="--shard must be i/N"):
            parse_shard(bad)


def test_generation_batches_never_cross_a_window():
    lengths = [(i * 7919) % 13 for i in range(100)]
    window = 2 * WINDOW_BATCHES
    one = batches(lengths, 2)
    assert sorted(i for b in one for i in b) == list(range(100))
    assert all(len({i // window for i in b}) == 1 for b in one)
    # a shard starting on a window boundary runs exactly the one-process batches
    tail = batches(lengths[window:], 2)
    assert [[i + window for i in b] for b in tail] == one[WINDOW_BATCHES:]


def _shards(tmp_path, records, count, block=2):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    paths = []
    for i in range(count):
        shard = Shard(i, count)
        lo, hi = shard.span(len(records), block)
        out = tmp_path / f"out.{i}.jsonl"
        out.write_text("".join(json.dumps({**r, "x": 1}) + "\n" for r in records[lo:hi]))
        write_sidecar(out, shard, (lo, hi), len(records), str(data), "route")
        paths.append(str(out))
    return data, paths


def test_gather_restores_input_order_in_any_argument_order(tmp_path):
    records = [{"id": i} for i in range(11)]
    _, paths = _shards(tmp_path, records, 3)
    result = runner.invoke(app, ["gather", *reversed(paths), "--out", str(tmp_path / "all.jsonl"), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out": str(tmp_path / "all.jsonl"), "shards": 3, "records": 11,
                                         "command": "route", "input": str(tmp_path / "in.jsonl")}
    assert [json.loads(line)["id"] for line in (tmp_path / "all.jsonl").read_text().splitlines()] == list(range(11))
    result = runner.invoke(app, ["gather", *paths])  # stdout
    assert result.exit_code == 0 and result.stdout == (tmp_path / "all.jsonl").read_text()


def test_gather_refuses_incomplete_mixed_or_changed_shards(tmp_path):
    records = [{"id": i} for i in range(8)]
    _, paths = _shards(tmp_path, records, 3)
    out = tmp_path / "all.jsonl"

    def refused(args, code, message):
        result = runner.invoke(app, ["gather", *args, "--out", str(out)])
        assert result.exit_code == code, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()

    refused(paths[:2], 3, "shard(s) 2/3 of")
    refused([paths[0], paths[0], paths[1], paths[2]], 2, "shard 0/3 given twice")
    refused([*paths, str(tmp_path / "nope.jsonl")], 3, "nope.jsonl: no such file")
    (tmp_path / "plain.jsonl").write_text('{"id": 0}\n')
    refused([str(tmp_path / "plain.jsonl")], 3, "no plain.jsonl.shard.json beside it")
    other = tmp_path / "other"
    other.mkdir()
    _, others = _shards(other, [{"id": i} for i in range(9)], 3)
    refused([paths[0], others[1], paths[2]], 5, "are shards of different runs")
    with open(paths[1], "a") as fh:
        fh.write('{"id": 99}\n')
    refused(paths, 3, "changed since its shard run wrote it")


def test_gather_refuses_existing_output(tmp_path):
    _, paths = _shards(tmp_path, [{"id": 0}, {"id": 1}], 2, block=1)
    (tmp_path / "all.jsonl").write_text("keep\n")
    result = runner.invoke(app, ["gather", *paths, "--out", str(tmp_path / "all.jsonl")])
    assert result.exit_code == 4 and "already exists" in result.stderr
    assert (tmp_path / "all.jsonl").read_text() == "keep\n"


def test_plan_by_hand_by_launcher_or_whole(monkeypatch):
    from lorakit.shard import plan

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    whole = plan(None, 10, 4)
    assert (whole.span, whole.by_hand, whole.launched) == ((0, 10), False, False)
    assert whole.collect([1, 2]) == [1, 2]
    hand = plan("1/2", 10, 4)
    assert (hand.span, hand.by_hand) == ((4, 10), True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    launched = plan(None, 10, 4)
    assert (launched.span, launched.by_hand, launched.launched) == ((0, 4), False, True)
    with pytest.raises(UsageError, match="under torchrun the processes shard it themselves"):
        plan("0/2", 10, 4)
