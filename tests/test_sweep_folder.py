"""A sweep's run folder can be trusted after any edit, flip or mistake (issue 25): every file descentlab reads back
is checksummed, a damaged cell is trained again and never read, the manifest is read back through the command
line's own rules, a different sweep is refused naming the option, and the engine is recorded as it ran."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from descentlab.cli.main import main
from descentlab.experiments.runfolder import read_cell
from descentlab.training.results import HISTORY_FIELDS

SMALL = ["--optimizers", "gd,nag", "--lr", "0.1", "--seeds", "2", "--iterations", "5", "--hidden", "3", "--quiet"]
TUNED = ["--tune", "--optimizers", "gd", "--lr", "0.1,0.5", "--seeds", "2", "--iterations", "5", "--hidden", "3",
         "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    assert main(["sweep", *SMALL, "--out", str(out)]) == 0
    return out


def _copy(folder, tmp_path):
    import shutil

    shutil.copytree(folder, tmp_path / "run")
    return tmp_path / "run"


def _rewrite_manifest(path, edit, fix_checksum=True):
    """Apply ``edit`` to the manifest's content and, unless told not to, write the checksum descentlab would."""
    obj = json.loads(path.read_text())
    content = {k: copy.deepcopy(obj[k]) for k in ("kind", "config", "data_sha256", "cell_size")}
    edit(content)
    obj.update(content)
    if fix_checksum:
        obj["sha256"] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps(obj))


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def _same(a, b) -> bool:
    return json.dumps(a.rows) == json.dumps(b.rows) and a.cell == b.cell and np.array_equal(a.params, b.params) and \
        all(np.array_equal(getattr(a.history, f), getattr(b.history, f), equal_nan=True) for f in HISTORY_FIELDS)


def test_no_flipped_bit_in_a_cell_is_ever_read_as_data(folder, tmp_path):
    path = next((folder / "cells").glob("*.parquet"))
    whole, data = read_cell(path), path.read_bytes()
    refused, positions = 0, range(0, len(data), max(1, len(data) // 97))
    for position in positions:
        flipped = bytearray(data)
        flipped[position] ^= 1 << (position % 8)
        (tmp_path / "cell.parquet").write_bytes(bytes(flipped))
        try:
            read = read_cell(tmp_path / "cell.parquet")
        except Exception:  # refused: pyarrow's own errors, or the checksum's
            refused += 1
            continue
        assert _same(read, whole), f"a flipped bit at byte {position} was read as data"
    assert refused > len(positions) // 2  # the rest fell where nothing read back is stored


def test_resume_trains_a_damaged_cell_again_and_ends_as_the_intact_sweep(folder, tmp_path):
    run = _copy(folder, tmp_path)
    cell = next((run / "cells").glob("sweep-nag-*.parquet"))
    intact = cell.read_bytes()
    for position in range(len(intact) // 2, len(intact)):  # the first flip from the middle on that is not harmless
        flipped = bytearray(intact)
        flipped[position] ^= 0x08
        cell.write_bytes(bytes(flipped))
        try:
            read_cell(cell)
        except Exception:
            break
    assert main(["sweep", "--resume", str(run), "--quiet"]) == 0
    assert cell.read_bytes() == intact
    assert (run / "sweep.csv").read_bytes() == (folder / "sweep.csv").read_bytes()


def test_a_manifest_edited_by_hand_is_refused_in_one_line(folder, tmp_path, capsys):
    run = _copy(folder, tmp_path)
    _rewrite_manifest(run / "manifest.json", lambda c: c["config"]["base"].update(iterations=6), fix_checksum=False)
    assert main(["sweep", "--resume", str(run), "--quiet"]) == 1
    _one_line_error(capsys, "manifest.json: changed since descentlab wrote it", "run a new sweep")


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(content):
        target = content
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(("edit", "says"), [
    (_set("config", "base", "hidden", [0]), "--hidden"),
    (_set("config", "base", "hidden", []), "--hidden"),
    (_set("cell_size", 0), "--cell-size"),
    (_set("cell_size", -1), "--cell-size"),
    (_set("cell_size", "8"), "cell_size"),
    (_set("config", "base", "engine", "warp"), "--engine"),
    (_set("config", "seeds", "6"), "seeds"),
    (_set("config", "seeds", 0), "--seeds"),
    (_set("config", "lrs", ["x"]), "lrs"),
    (_set("config", "lrs", [-0.1]), "--lr"),
    (_set("config", "optimizers", ["warp"]), "warp"),
    (_set("config", "base", "iterations", -5), "--iterations"),
    (_set("config", "base", "init_sigma", float("nan")), "--init-sigma"),
    (_set("config", "base", "x_axis", "evaluations"), "a configuration that descentlab sweep does not make"),
    (_set("config", "base", "activation", None), "activation"),
    (_set("kind", "warp"), "no sweep configuration of a kind"),
    (lambda c: c["config"].pop("seeds"), "lacks 'seeds'"),
])
def test_a_manifest_is_read_back_by_the_command_lines_own_rules(folder, tmp_path, capsys, edit, says):
    run = _copy(folder, tmp_path)
    _rewrite_manifest(run / "manifest.json", edit)
    assert main(["sweep", "--resume", str(run), "--quiet"]) == 1
    _one_line_error(capsys, "manifest.json", says)


@pytest.mark.parametrize(("edit", "says"), [
    (_set("config", "repetitions", 0), "--seeds"),
    (_set("config", "methods", ["warp"]), "warp"),
    (_set("config", "validation_size", 0.9), "leave no training data"),
    (_set("config", "split_seed", -1), "--split-seed"),
])
def test_a_tuned_manifest_is_read_back_by_the_same_rules(tmp_path, capsys, edit, says):
    assert main(["sweep", *TUNED, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    _rewrite_manifest(tmp_path / "manifest.json", edit)
    assert main(["sweep", "--resume", str(tmp_path), "--quiet"]) == 1
    _one_line_error(capsys, says)


def test_another_sweep_into_a_folder_is_refused_naming_the_option_that_differs(folder, tmp_path, capsys):
    run = _copy(folder, tmp_path)
    before = {p.name: p.read_bytes() for p in (run / "cells").iterdir()}
    changed = [("6" if SMALL[i - 1] == "--iterations" else word) for i, word in enumerate(SMALL)]
    assert main(["sweep", *changed, "--out", str(run)]) == 1
    _one_line_error(capsys, "this folder's sweep was made with --iterations 5", "--resume")
    assert main(["sweep", *TUNED, "--out", str(run)]) == 1
    _one_line_error(capsys, "this folder's sweep was made without --tune")
    assert {p.name: p.read_bytes() for p in (run / "cells").iterdir()} == before  # nothing mixed in
    assert main(["sweep", *SMALL, "--out", str(run)]) == 0  # the same sweep again: it finds its cells


def test_the_engine_is_recorded_as_it_ran_and_a_resume_that_cannot_use_it_refuses(folder, tmp_path, capsys,
                                                                                 monkeypatch):
    manifest = json.loads((folder / "manifest.json").read_text())
    summary = json.loads((folder / "summary.json").read_text())
    assert manifest["config"]["base"]["engine"] == summary["engine"] == "numpy"  # 'auto', resolved for 20 models
    run = _copy(folder, tmp_path)
    _rewrite_manifest(run / "manifest.json", _set("config", "base", "engine", "compiled"))
    from descentlab.core import engines

    monkeypatch.setattr(engines, "compiled_available", lambda: False)
    assert main(["sweep", "--resume", str(run), "--quiet"]) == 1
    _one_line_error(capsys, "manifest.json: argument --engine: the compiled engine needs numba")


@pytest.mark.parametrize("grid", [SMALL, TUNED])
def test_a_learning_rate_of_1e308_prints_no_warning_or_traceback(tmp_path, grid):
    argv = [("1e308" if grid[i - 1] == "--lr" else word) for i, word in enumerate(grid)]
    done = subprocess.run([sys.executable, "-m", "descentlab", "sweep", *argv, "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for noise in ("Warning", "All-NaN", "Traceback", "log-scaled"):
        assert noise not in done.stderr, done.stderr
