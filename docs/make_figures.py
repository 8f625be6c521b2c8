"""Write docs/curves.png, the figure README.md shows, from the default run.

    python docs/make_figures.py

It runs ``descentlab compare`` with every default into a temporary folder (through ``descentlab.cli.main``, which
waits for the figure the command draws after returning) and copies that run's curves.png here, so the picture
always comes from the command README quotes. The curves are the same on any machine
(every step is seeded); pixel-level details can differ with the installed matplotlib and fonts.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

from descentlab.cli.main import main as cli_main

HERE = Path(__file__).resolve().parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="descentlab-figures-") as scratch:
        run = Path(scratch) / "default"
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(["compare", "--out", str(run), "--quiet"])
        if code:
            return code
        shutil.copyfile(run / "curves.png", HERE / "curves.png")
    print(f"Wrote {HERE / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
