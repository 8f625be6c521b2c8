"""What the command imports: ``--help`` answers without NumPy, rich or matplotlib, and the default ``compare``
loads none of the optional heavy libraries; when it returns, its files are written and nothing of it runs on.
(How long that takes is measured by bench/startup.py, not here.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY_OPTIONAL = ("numba", "scipy", "sklearn", "onnx", "onnxruntime", "torch", "jax", "pandas")


def _modules_after(argv: list[str], cwd=None) -> set[str]:
    code = (
        "import sys\n"
        "from descentlab.cli.main import main\n"
        f"code = main({argv!r})\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert run.returncode == 0, run.stderr
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("MODULES ")]
    return set(line.split()[1:])


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_help_loads_neither_numpy_nor_rich_nor_matplotlib():
    loaded = _top_level(_modules_after(["--help"]))
    assert "descentlab" in loaded and "argparse" in loaded
    assert not loaded & {"numpy", "rich", "matplotlib", "safetensors", *HEAVY_OPTIONAL}


def test_a_subcommand_help_is_as_light():
    loaded = _top_level(_modules_after(["compare", "--help"]))
    assert not loaded & {"numpy", "rich", "matplotlib"}


def test_default_compare_loads_no_optional_heavy_library(tmp_path):
    loaded = _modules_after(["compare", "--out", str(tmp_path / "run"), "--quiet"], cwd=tmp_path)
    assert "numpy" in loaded and "descentlab.training.fit" in loaded  # the run did happen
    assert (tmp_path / "run" / "curves.png").stat().st_size > 10_000
    assert not _top_level(loaded) & set(HEAVY_OPTIONAL)


# Runs descentlab as a child of a process that adopts every orphan (PR_SET_CHILD_SUBREAPER), so a process the
# command started and left running, even in a session of its own, is found among this one's children.
_ADOPTER = """
import ctypes, os, subprocess, sys
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
code = subprocess.run(sys.argv[1:]).returncode
children = [p for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/stat")
            and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
print("CHILDREN", len(children), "CODE", code)
"""


def test_when_compare_returns_every_file_is_written_and_no_process_of_it_is_left(tmp_path):
    script = Path(sys.executable).with_name("descentlab")  # the command a user runs
    run = subprocess.run([sys.executable, "-c", _ADOPTER, str(script), "compare", "--iterations", "30", "--quiet",
                          "--out", "r"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.stdout.split()[-4:] == ["CHILDREN", "0", "CODE", "0"], (run.stdout, run.stderr)
    from descentlab.reporting.write import COMPARE_FILES

    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(COMPARE_FILES)  # no lock file either
    assert (tmp_path / "r" / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "r" / "report.html").read_bytes().rstrip().endswith(b"</html>")


def test_importing_descentlab_is_lazy_but_complete():
    code = (
        "import sys, descentlab as dl\n"
        "assert 'numpy' not in sys.modules, 'import descentlab loaded numpy'\n"
        "missing = [n for n in dl.__all__ if n != 'DescentClassifier' and getattr(dl, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert dl.fit.__module__ == 'descentlab.training.fit' and 'numpy' in sys.modules\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_the_gradcheck_function_is_not_replaced_by_its_submodule():
    code = (
        "from descentlab.core.gradcheck import GradcheckReport\n"  # imports the submodule first
        "import descentlab as dl\n"
        "assert callable(dl.gradcheck) and dl.gradcheck.__module__ == 'descentlab.core.gradcheck', dl.gradcheck\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_nothing_is_imported_before_the_ctrl_c_handler_is_in_place():
    """Ctrl-C before the command's handler is installed ends in a KeyboardInterrupt traceback; the package and its
    ``__main__`` load nothing before installing it (typing, with re and enum, once took tens of milliseconds)."""
    code = ("import sys\nbefore = set(sys.modules)\nimport descentlab.__main__\n"
            "print(' '.join(sorted(set(sys.modules) - before)))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.split() == ["descentlab", "descentlab.__main__"], run
