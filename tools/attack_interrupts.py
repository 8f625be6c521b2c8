"""Adversarial check of "nothing lost": Ctrl-C (one press, or two presses a short gap apart) at increasing delays
after `compare` or `train` starts, then `--resume` (itself interrupted the same way) until the run completes;
every final result must equal, bit for bit, that of an uninterrupted run, and no run may print a traceback.

    python tools/attack_interrupts.py [--delays 0,0.1,...] [--gaps 0.05] [--out /tmp/attack]

Prints one line per case and a count of cases tried / handled. Timing depends on the machine; delays span start-up,
training, writing and the end of a run on a 2-core machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import descentlab as dl

OPTIONS = ["--hidden", "3", "--iterations", "1500", "--batch-size", "50", "--quiet"]


def command(*args: object) -> list[str]:
    return [sys.executable, "-m", "descentlab", *map(str, args)]


def _ctrl_c_works() -> None:
    """As in a terminal: a shell starts background jobs with SIGINT ignored, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted(argv: list[str], delay: float, gap: float | None) -> tuple[int, str, str]:
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_works)
    time.sleep(delay)
    for pause in ([0.0] if gap is None else [0.0, gap]):
        time.sleep(pause)
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=600)
    return run.returncode, out, err


def results(kind: str, out: Path) -> list[bytes]:
    if kind == "train":
        return [dl.load_model(out)[1].flat.tobytes()]
    models = sorted((out / "models").glob("*.safetensors"))
    return [dl.load_model(p)[1].flat.tobytes() for p in models] + [(out / "history.csv").read_bytes()]


def case(kind: str, root: Path, delay: float, gap: float | None, reference: list[bytes], rng: random.Random) -> str:
    out = root / (f"{kind}-{delay}-{gap}" + (".safetensors" if kind == "train" else ""))
    extra = ["--optimizer", "nag"] if kind == "train" else ["--optimizers", "gd,nag"]
    checkpoint = out / "checkpoint" if kind == "compare" else Path(f"{out}.checkpoint")
    code, text, err = interrupted(command(kind, *OPTIONS, *extra, "--out", out), delay, gap)
    history = [code]
    complete = (out / "summary.json").exists() if kind == "compare" else out.exists()
    if code != 0 and not checkpoint.exists() and not complete:
        # Training had not begun (it begins after the "Network" line, from which on Ctrl-C is held until the
        # checkpoint is on disk): nothing to lose, the user runs the command again.
        if "Network" in text or "Traceback" in err:
            return f"FAIL {history}: exit {code} after training began, and no checkpoint (lost): {err.strip()[-300:]}"
        code, text, err = interrupted(command(kind, *OPTIONS, *extra, "--out", out), 1e6, None)
        history.append(f"again {code}")
    for _ in range(6):
        if "Traceback" in err or code not in (0, 130, -signal.SIGINT):
            return f"FAIL {history}: {err.strip()[-300:]}"
        if not checkpoint.exists() and ((out / "summary.json").exists() if kind == "compare" else out.exists()):
            break  # complete (exit -SIGINT: a press after the command had returned)
        if not checkpoint.exists():
            return f"FAIL {history}: exit {code} and no checkpoint (lost)"
        code, text, err = interrupted(command(kind, "--resume", checkpoint, "--quiet"), rng.uniform(0, 3), None)
        history.append(code)
    else:
        code, text, err = interrupted(command(kind, "--resume", checkpoint, "--quiet"), 1e6, None)
        history.append(code)
    if results(kind, out) != reference:
        return f"FAIL {history}: the finished run differs from an uninterrupted one"
    return f"ok {history}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delays", default="0,0.3,0.6,0.9,1.2,1.5,1.8,2.1,2.5,3,3.5,4.5")
    parser.add_argument("--gaps", default="none,0.05,0.4")
    parser.add_argument("--commands", default="compare,train")
    parser.add_argument("--out", type=Path, default=Path("/tmp/descentlab-attack"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    rng = random.Random(0)
    tried = handled = 0
    for kind in args.commands.split(","):
        whole = args.out / ("whole.safetensors" if kind == "train" else "whole")
        extra = ["--optimizer", "nag"] if kind == "train" else ["--optimizers", "gd,nag"]
        subprocess.run(command(kind, *OPTIONS, *extra, "--out", whole), check=True, capture_output=True)
        reference = results(kind, whole)
        for gap in args.gaps.split(","):
            for delay in map(float, args.delays.split(",")):
                verdict = case(kind, args.out, delay, None if gap == "none" else float(gap), reference, rng)
                tried += 1
                handled += verdict.startswith("ok")
                print(f"{kind} delay {delay:.2f} s, gap {gap}: {verdict}", flush=True)
    print(f"{handled} of {tried} cases handled")
    return 0 if handled == tried else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
