"""What a newcomer meets in the first hour (issue 15): progress counts, names, titles, saved models."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def _descentlab(*args: str, cwd=None, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "descentlab", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_the_progress_bar_counts_the_iterations_asked_for(tmp_path):
    # rich draws its live display only on a terminal; these two variables make it draw into the pipe.
    run = _descentlab("compare", "--iterations", "7", "--out", str(tmp_path / "run"),
                      env_extra={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "100"})
    assert run.returncode == 0, run.stderr
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run.stderr)  # without the terminal's control sequences
    counts = [(int(done), int(total)) for done, total in re.findall(r"\b(\d+)/(\d+)\b", shown)]
    assert counts, shown
    assert {total for _, total in counts} == {7}
    assert max(done for done, _ in counts) == 7
    for method in ("gd", "nag"):
        assert re.search(rf"{method}\s.*\b7/7\b", shown)


def test_the_light_name_lists_match_the_optimisers_and_activations():
    from descentlab.activations import ACTIVATIONS
    from descentlab.names import ACTIVATION_NAMES, METHODS
    from descentlab.optimizers import OPTIMIZERS

    assert list(METHODS) == list(OPTIMIZERS)
    assert list(ACTIVATION_NAMES) == list(ACTIVATIONS)
    assert all(METHODS.values())
