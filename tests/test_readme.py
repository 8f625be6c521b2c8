"""Every ``bash`` and ``python`` block of README.md runs as written, in order, in one folder (tests/test_docs_site.py
runs the site's tutorials with the same runner, ``run_blocks``).

The rule (README.md states it too): a block runs unless the line before its fence is a marker
``<!-- readme-test: not run: REASON -->`` (installs, long sweeps, clusters), in which case each ``descentlab``
command in it must still parse; ``<!-- readme-test: needs MODULE -->`` runs the block where MODULE imports.
The numbers README quotes from the default run are compared with what the command prints (gradcheck's quoted
output moved to docs/index.md with issue 24: tests/test_docs_site.py checks it with ``check_quoted_gradcheck``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from descentlab.cli.parser import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"(?:<!-- readme-test: (?P<marker>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


@dataclass
class Block:
    lang: str
    body: str
    marker: str
    line: int


def blocks(path: Path = README) -> list[Block]:
    text = path.read_text()
    return [Block(m["lang"], m["body"], m["marker"] or "", text[: m.start()].count("\n") + 1)
            for m in FENCE.finditer(text)]


def _commands(body: str) -> list[list[str]]:
    """The descentlab commands of a bash block, continuation lines joined, comments dropped."""
    found = []
    for line in body.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|;|\|", line.split(" #")[0]):
            words = shlex.split(part.strip().rstrip("&").strip(), comments=True)
            if words and words[0] == "descentlab":
                found.append(words[1:])
    return found


def run_blocks(path: Path, folder: Path) -> dict[int, str]:
    """Run every runnable block of ``path`` in order in ``folder``; what each printed, by the block's line."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    outputs: dict[int, str] = {}
    for block in blocks(path):
        if block.lang not in ("bash", "python") or block.marker.startswith("not run"):
            continue
        needs = re.fullmatch(r"needs (\w+)", block.marker)
        if needs and importlib.util.find_spec(needs[1]) is None:
            continue
        argv = ["bash", "-euo", "pipefail", "-c", block.body] if block.lang == "bash" else \
            [sys.executable, "-c", block.body]
        run = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{path.name} block at line {block.line} failed:\n{run.stdout}\n{run.stderr}"
        outputs[block.line] = run.stdout
    return outputs


def check_blocks_not_run_parse(path: Path) -> int:
    """Parse the ``descentlab`` commands of ``path``'s bash blocks marked not run; how many there were."""
    parser = build_parser()
    checked = 0
    for block in blocks(path):
        if block.lang == "bash" and block.marker.startswith("not run"):
            for words in _commands(block.body):
                parser.parse_args(words)  # a bad flag exits 2: SystemExit fails the test
                checked += 1
    return checked


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> dict:
    """Run every runnable block in order in one folder; what each printed, by block."""
    folder = tmp_path_factory.mktemp("readme")
    return {"folder": folder, "outputs": run_blocks(README, folder)}


def test_every_block_is_python_bash_or_quoted_output_and_every_marker_is_known():
    for block in blocks():
        assert block.lang in ("bash", "python", ""), block
        assert block.marker == "" or re.fullmatch(r"not run: .+|needs \w+", block.marker), block
    # README keeps three examples; the blocks it had before issue 24 run in the site's pages (tests/test_docs_site.py)
    assert sum(b.lang in ("bash", "python") and not b.marker for b in blocks()) >= 3


def test_the_descentlab_commands_of_blocks_that_are_not_run_parse():
    assert check_blocks_not_run_parse(README) >= 3


def test_every_runnable_block_runs(readme_run):
    assert len(readme_run["outputs"]) >= 3


def test_the_default_run_has_the_numbers_readme_quotes(readme_run):
    summary = json.loads((readme_run["folder"] / "runs" / "default" / "summary.json").read_text())
    table = re.findall(r"^\| (gd|nag) +\| ([\d.]+) \| ([\d.]+) % \| ([\d.]+) \| ([\d.]+) % \| (\d+) \|$",
                       README.read_text(), re.M)
    assert [row[0] for row in table] == ["gd", "nag"]
    for name, train_loss, train_acc, test_loss, test_acc, reach in table:
        method = summary["methods"][name]
        final = method["final"]
        assert (train_loss, test_loss) == (f"{final['train_loss']:.4f}", f"{final['test_loss']:.4f}")
        assert (train_acc, test_acc) == (f"{100 * final['train_accuracy']:.1f}", f"{100 * final['test_accuracy']:.1f}")
        assert int(reach) == method["iterations_to_test_accuracy_90"]
    report = (readme_run["folder"] / "runs" / "default" / "report.md").read_text()
    reached = re.search(r"reached gd \(steepest descent\)'s final loss at iteration (\d+)", report)
    assert reached and f"nag reaches gd's final training loss after {reached[1]} iterations" in \
        " ".join(README.read_text().split())


def check_quoted_gradcheck(text: str) -> None:
    """The gradcheck output ``text`` quotes is what ``descentlab gradcheck --hidden 1 --samples 8`` prints."""
    quoted = re.search(r"```\n(Data: iris \(embedded\), first 8.*?)```", text, re.S)[1]
    run = subprocess.run([sys.executable, "-m", "descentlab", "gradcheck", "--hidden", "1", "--samples", "8"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    errors = re.compile(r"\d\.\d\de-\d\d")  # the error columns' digits vary with BLAS and CPU, as README says
    values = re.compile(r"-?\d\.\d{10}e[-+]\d\d")  # the derivatives: their last digit too (a difference quotient)

    def normal(output: str) -> list[str]:
        return [values.sub("V", errors.sub("E", line.rstrip())) for line in output.strip().splitlines()]

    def derivatives(output: str) -> list[float]:
        return [float(value) for value in values.findall(output)]

    assert normal(quoted) == normal(run.stdout)
    assert derivatives(quoted) == pytest.approx(derivatives(run.stdout), rel=1e-9)
