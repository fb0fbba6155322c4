import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorakit.errors import InputError, OutputExistsError
from lorakit.io import atomic_dir, atomic_file, iter_jsonl, read_jsonl, sha256_path, write_jsonl

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(st.text(), json_values, max_size=4), min_size=1, max_size=5))
def test_jsonl_roundtrip(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("rt") / "x.jsonl"
    write_jsonl(records, path)
    assert read_jsonl(path) == records


def test_bad_lines_name_file_and_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(InputError, match=r"d.jsonl:3: expected a JSON object, got list"):
        read_jsonl(p)
    p.write_text('{"prompt": 3}\n')
    with pytest.raises(InputError, match=r"d.jsonl:1: field 'prompt' must be a string"):
        list(iter_jsonl(p, required=("prompt",)))
    p.write_text("\n")
    with pytest.raises(InputError, match="no records"):
        read_jsonl(p)
    p.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        read_jsonl(p)


def test_atomic_file_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_then_replaces(tmp_path):
    target = tmp_path / "folder"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_dir(target):
            pass
    with atomic_dir(target, force=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_sha256_of_folder_changes_with_content(tmp_path):
    (tmp_path / "a").write_text("1")
    h1 = sha256_path(tmp_path)
    (tmp_path / "a").write_text("2")
    assert sha256_path(tmp_path) != h1
    assert len(json.dumps(h1)) == 66


# Output checks and stale temp outputs -------------------------------------------------------------


def test_path_problems_equal_inside_containing_and_between_outputs(tmp_path):
    from lorakit.io import path_problems

    (tmp_path / "base").mkdir()
    (tmp_path / "data.jsonl").write_text("{}\n")
    (tmp_path / "link").symlink_to(tmp_path / "base")
    inputs = {"BASE": tmp_path / "base", "DATA": [str(tmp_path / "data.jsonl"), "-"], "--shots": None}
    assert path_problems({"--out": tmp_path / "new", "--log-file": tmp_path / "new.log"}, inputs) == []
    assert path_problems({"--out": "-"}, {"DATA": "-"}) == []
    [p] = path_problems({"--out": tmp_path / "link"}, inputs)
    assert p.startswith(f"--out {tmp_path / 'link'}: is the input BASE")
    [p] = path_problems({"--out": tmp_path / "base" / "sub"}, inputs)
    assert f": is inside the input BASE {tmp_path / 'base'}" in p
    problems = path_problems({"--out": tmp_path}, inputs)
    assert len(problems) == 2 and all(": contains the input" in p for p in problems)
    [p] = path_problems({"--out": tmp_path / "o", "--log-file": tmp_path / "o" / "log"}, {})
    assert p == f"--out {tmp_path / 'o'}: contains --log-file {tmp_path / 'o' / 'log'} (one output would destroy the other)"


def test_dash_is_stdout_only_where_allowed(tmp_path, monkeypatch):
    from lorakit.errors import UsageError
    from lorakit.io import check_output

    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").mkdir()
    check_output("-", force=False, stdio=True)
    for force in (False, True):
        with pytest.raises(UsageError, match=r"--log-file -: '-' \(stdout\) cannot take this output"):
            check_output("-", force=force, option="--log-file")
        with pytest.raises(UsageError, match="--out -"):
            with atomic_dir("-", force=force):
                pass
    assert (tmp_path / "-").is_dir() and list(tmp_path.iterdir()) == [tmp_path / "-"]


def test_temp_outputs_name_their_process(tmp_path):
    import os

    with atomic_dir(tmp_path / "d") as tmp, atomic_file(tmp_path / "f") as tmpf:
        assert tmp.name.startswith(f".d.tmp-{os.getpid()}@") and tmpf.name.startswith(f".f.tmp-{os.getpid()}@")
        (tmp / "x").write_text("1")
    with atomic_dir(tmp_path / "d", force=True) as tmp:  # replacing a folder moves the old one aside, then removes it
        (tmp / "x").write_text("2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"] and (tmp_path / "d" / "x").read_text() == "2"


def test_clean_stale_removes_dead_temps_restores_a_dead_replace_and_keeps_the_rest(tmp_path):
    import os

    from lorakit.io import _temp_prefix, clean_stale
    from tests.helpers import dead_pid

    target, dead = tmp_path / "out", dead_pid()
    stale = tmp_path / (_temp_prefix(target, "tmp", dead) + "aaaa")
    stale.mkdir()
    (stale / "w").write_bytes(b"\0" * 100)
    old = tmp_path / (_temp_prefix(target, "old", dead) + "bbbb")  # killed between the two renames of a replace
    old.mkdir()
    (old / "w").write_text("previous output")
    live = tmp_path / (_temp_prefix(target, "tmp", os.getpid()) + "cccc")
    live.mkdir()
    other = tmp_path / (_temp_prefix(tmp_path / "out2", "tmp", dead) + "dddd")  # another target's
    other.mkdir()
    assert clean_stale(target) == 2
    assert not stale.exists() and not old.exists() and (target / "w").read_text() == "previous output"
    assert live.is_dir() and other.is_dir()
    old.mkdir()  # the output is in place: a dead replace's old folder is removed
    assert clean_stale(target) == 1 and not old.exists() and (target / "w").read_text() == "previous output"
    assert clean_stale(tmp_path / "missing" / "out") == 0


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_outputs_honour_the_umask(tmp_path, umask):
    import torch
    from safetensors.torch import save_file

    with atomic_file(tmp_path / "f.jsonl") as tmp:
        assert _mode(tmp) == 0o666 & ~umask  # already while it is written
        tmp.write_text("{}\n")
    with atomic_dir(tmp_path / "d") as tmp:
        assert _mode(tmp) == 0o777 & ~umask
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.json").write_text("{}")
        save_file({"w": torch.zeros(2)}, str(tmp / "sub" / "w.safetensors"))  # written 0600 by safetensors
    write_jsonl([{"a": 1}], tmp_path / "w.jsonl")
    assert _mode(tmp_path / "f.jsonl") == _mode(tmp_path / "w.jsonl") == 0o666 & ~umask
    assert _mode(tmp_path / "d") == _mode(tmp_path / "d" / "sub") == 0o777 & ~umask
    assert _mode(tmp_path / "d" / "sub" / "x.json") == _mode(tmp_path / "d" / "sub" / "w.safetensors") == 0o666 & ~umask
    # replacing keeps the same rule
    with atomic_dir(tmp_path / "d", force=True):
        pass
    assert _mode(tmp_path / "d") == 0o777 & ~umask
