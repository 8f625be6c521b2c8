"""Property (issue 11, "Done when"): generated malformed tables, bad options and hand-made model headers thrown at
the commands (train, predict, info, export, compare, gradcheck) always end with exit ≠ 0, exactly one line on
stderr, no traceback, and no output file created or changed.

Most examples call ``descentlab.cli.main.main`` in-process (stdout and stderr captured, NumPy's default error handling:
a floating-point warning would be an extra stderr line of the real command, so any warning fails the example); a
few go through the real command in a subprocess. Budgets keep the whole file well under a minute.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save

import descentlab as dl
from descentlab.cli.main import main
from descentlab.formats.model_io import METADATA_KEY, _checksum
from descentlab.optim.optimizers import optimizer_names

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
FEW = settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

HEADER = ["a", "b", "c", "label"]


def good_rows(n: int = 24) -> list[list[str]]:
    return [[f"{i % 5}.5", f"{i % 3}.25", str(i % 7), "xy"[i % 2]] for i in range(n)]


# -- what is thrown -----------------------------------------------------------------------------------------------
def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


cells = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=",\"\r\n"), min_size=1, max_size=8)


# damages to the label column only: predict does not read labels, so for it such a table is fine
LABEL_ONLY = {"empty label", "one class"}


@st.composite
def malformed_tables(draw) -> tuple[str, bytes]:
    """A valid table with one damage that makes it invalid, whatever else is drawn: (the damage, the bytes)."""
    rows = good_rows()
    where = draw(st.integers(0, len(rows) - 1))
    column = draw(st.integers(0, 2))
    damage = draw(st.sampled_from(["fewer cells", "more cells", "text", "non-finite", "empty", "empty label",
                                   "no rows", "empty file", "duplicate name", "bad utf-8", "one class", "semicolons",
                                   "no header", "open quote"]))
    header = list(HEADER)
    if damage == "fewer cells":
        rows[where] = rows[where][: draw(st.integers(1, 3))]
    elif damage == "more cells":
        rows[where] = rows[where] + draw(st.lists(cells, min_size=1, max_size=3))
    elif damage == "text":
        rows[where][column] = draw(cells.filter(_not_a_number))
    elif damage == "non-finite":
        rows[where][column] = draw(st.sampled_from(["nan", "inf", "-inf", "NaN", "1e999", "-1e400", "1e308"]))
    elif damage == "empty":
        rows[where][column] = draw(st.sampled_from(["", " "]))
    elif damage == "empty label":
        rows[where][3] = ""
    elif damage == "no rows":
        rows = []
    elif damage == "empty file":
        return damage, b""
    elif damage == "duplicate name":
        header[draw(st.integers(1, 3))] = header[0]
    elif damage == "one class":
        rows = [row[:3] + ["x"] for row in rows]
    elif damage == "no header":
        header = rows.pop(0)
    elif damage == "open quote":
        rows[where][column] = '"' + rows[where][column]
    text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    if damage == "semicolons":
        text = text.replace(",", ";")
    data = text.encode()
    if damage == "bad utf-8":
        data = data.replace(b"b", b"b\xff", 1)
    return damage, data


# (command prefix, option, values that are always wrong for it)
_NUMBERS = st.sampled_from(["abc", "", "nan", "inf", "-inf", "1e999", "0x10", "1,5", "--"])
BAD_OPTIONS = [
    (["train", "--out", "{out}/m.safetensors"], "--seed", st.one_of(st.integers(max_value=-1), st.integers(2**32),
                                                                    st.just("1.5"), _NUMBERS)),
    (["train", "--out", "{out}/m.safetensors"], "--iterations", st.one_of(st.integers(max_value=-1), _NUMBERS)),
    (["train", "--out", "{out}/m.safetensors"], "--lr", st.one_of(st.floats(max_value=0), _NUMBERS)),
    (["compare", "--out", "{out}/run"], "--test-size", st.one_of(st.floats(max_value=0), st.floats(min_value=1),
                                                                 _NUMBERS)),
    (["compare", "--out", "{out}/run"], "--init-sigma", st.one_of(st.floats(max_value=-1e-300), _NUMBERS)),
    (["compare", "--out", "{out}/run"], "--weight-decay", st.one_of(st.floats(max_value=-1e-300), _NUMBERS)),
    (["gradcheck"], "--hidden", st.one_of(st.integers(max_value=0), _NUMBERS)),
    (["gradcheck"], "--threshold", st.one_of(st.floats(max_value=0), _NUMBERS)),
    (["train", "--out", "{out}/m.safetensors"], "--optimizer",
     st.one_of(cells.filter(lambda s: s.split(":")[0].strip() not in optimizer_names() and s.strip()),
               st.builds(lambda k, v: f"adam:{k}={v}", st.sampled_from(["lr", "beta1", "eps", "mu", "foo"]),
                         st.sampled_from(["abc", "-1", "nan", "1.5e999", ""])),
               st.sampled_from(["gd:c=0.5", "gd-armijo:max_backtracks=2.5", "nag:restart=sometimes", "adam:lr=1:lr=2",
                                "momentum:beta=0.9", "sutskever:mu=1"]))),
    (["train", "--out", "{out}/m.safetensors"], "--target", st.text(min_size=1, max_size=5)),  # without --data
]


@st.composite
def bad_options(draw) -> list[str]:
    prefix, option, values = draw(st.sampled_from(BAD_OPTIONS))
    value = draw(values)
    text = repr(value) if isinstance(value, float) and not np.isfinite(value) else str(value)
    return [*prefix, f"{option}={text}"]


def json_values(depth: int = 3):
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                        st.text(max_size=6))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                        max_leaves=8)


@st.composite
def hand_made_metadata(draw, good: dict) -> tuple[dict | None, str | None]:
    """Metadata that must be refused: a required entry given a wrong JSON value or removed, or a raw JSON text
    (100,000-deep nesting, 1e400, a 5,000-digit integer) in place of an entry."""
    key = draw(st.sampled_from(["format", "format_version", "architecture", "feature_names", "class_names",
                                "standardization", "training", "metrics"]))
    raw = draw(st.sampled_from([None, None, "1e400", "[" * 100_000 + "]" * 100_000, "9" * 5000]))
    meta = dict(good)
    if raw is not None:
        meta[key] = "PLACEHOLDER"
        return meta, raw
    if draw(st.booleans()) and key in ("format", "format_version", "architecture"):
        del meta[key]
        return meta, None
    value = draw(json_values())
    wrong = {"format": lambda v: v != "descentlab-model",
             "format_version": lambda v: v not in (1, 2) or isinstance(v, bool),
             "architecture": lambda v: True, "feature_names": lambda v: True, "class_names": lambda v: True,
             "standardization": lambda v: v is not None, "training": lambda v: not isinstance(v, dict),
             "metrics": lambda v: not isinstance(v, dict)}[key]
    if key == "architecture":  # almost surely wrong; a valid one would have to match the tensors exactly
        value = {"sizes": value, "activation": draw(json_values())}
    if key in ("feature_names", "class_names"):  # right type, wrong count or wrong element types
        value = draw(st.one_of(st.lists(st.text(max_size=3), max_size=1), st.lists(json_values(), min_size=4)))
    if not wrong(value):
        value = [value]
    meta[key] = value
    return meta, None


# -- how it is checked --------------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def in_process(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    assert not caught, [str(w.message) for w in caught]  # the real command would print each as a line
    return code, err.getvalue()


def assert_refused(code: int, err: str, before: dict[str, bytes], folder: Path, argv: list[str]) -> None:
    assert code != 0, (argv, err)
    assert "Traceback" not in err, (argv, err)
    assert len(err.strip().splitlines()) == 1, (argv, err)
    assert snapshot(folder) == before, argv


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "good.safetensors"
    net = dl.MLP([3, 4, 2])
    dl.save_model(path, net, net.init(seed=0), metadata={"feature_names": ["a", "b", "c"], "class_names": ["x", "y"],
                                                          "training": {"lr": 0.1}, "metrics": {"loss": 0.5}})
    return path


def table_commands(table: Path, model: Path, out: Path) -> list[list[str]]:
    return [["train", "--data", str(table), "--out", str(out / "m.safetensors"), "--iterations", "2", "--quiet"],
            ["compare", "--data", str(table), "--out", str(out / "run"), "--iterations", "2", "--quiet"],
            ["gradcheck", "--data", str(table), "--samples", "2"],
            ["predict", "--model", str(model), "--data", str(table), "--out", str(out / "p.csv")]]


@FAST
@given(table=malformed_tables(), which=st.integers(0, 3))
def test_a_malformed_table_is_refused_by_every_command_that_reads_one(model_file, table, which):
    damage, content = table
    assume(not (which == 3 and damage in LABEL_ONLY))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "t.csv"
        path.write_bytes(content)
        (folder / "p.csv").write_text("an earlier prediction\n")  # must stay as it is
        argv = table_commands(path, model_file, folder)[which]
        before = snapshot(folder)
        code, err = in_process(argv)
        assert_refused(code, err, before, folder, argv)


@FAST
@given(argv=bad_options())
def test_a_bad_option_is_refused_in_one_line(argv):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        argv = [part.replace("{out}", name) for part in argv]
        code, err = in_process(argv)
        assert_refused(code, err, {}, folder, argv)


@FAST
@given(data=st.data(), which=st.sampled_from(["info", "export", "predict"]))
def test_a_hand_made_model_header_is_refused_in_one_line(model_file, data, which):
    _, _, good = dl.load_model(model_file)
    meta, raw = data.draw(hand_made_metadata(good))
    tensors = load_file(model_file)
    with contextlib.suppress(TypeError, ValueError, RecursionError):
        meta["checksum"] = _checksum(meta, tensors)  # hand-made: its checksum is right
    text = json.dumps(meta, sort_keys=True)
    if raw is not None:
        text = text.replace('"PLACEHOLDER"', raw)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "hand.safetensors"
        path.write_bytes(save(tensors, metadata={METADATA_KEY: text}))
        (folder / "rows.csv").write_text("a,b,c\n1,2,3\n")
        argv = {"info": ["info", "--model", str(path)],
                "export": ["export", "--model", str(path), "--onnx", str(folder / "m.onnx")],
                "predict": ["predict", "--model", str(path), "--data", str(folder / "rows.csv"), "--out",
                            str(folder / "p.csv")]}[which]
        before = snapshot(folder)
        code, err = in_process(argv)
        assert_refused(code, err, before, folder, argv)


@FAST
@given(header=st.binary(max_size=64), declared=st.integers(0, 2**64 - 1))
def test_a_random_safetensors_header_is_refused_in_one_line(header, declared):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "m.safetensors"
        path.write_bytes(declared.to_bytes(8, "little") + header)
        before = snapshot(folder)
        code, err = in_process(["info", "--model", str(path)])
        assert_refused(code, err, before, folder, ["info", str(declared), header])


@FEW
@given(table=malformed_tables(), argv=bad_options())
def test_the_real_command_refuses_them_the_same_way(model_file, table, argv):
    """A few of each through the real command: what the in-process examples assume holds in a subprocess."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "t.csv").write_bytes(table[1])
        before = snapshot(folder)
        for command in (table_commands(folder / "t.csv", model_file, folder)[0],
                        [part.replace("{out}", name) for part in argv]):
            done = subprocess.run([sys.executable, "-m", "descentlab", *command], capture_output=True, text=True,
                                  cwd=folder, timeout=120)
            assert_refused(done.returncode, done.stderr, before, folder, command)
