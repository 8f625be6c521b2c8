"""What the command imports: ``--help`` answers without NumPy, rich or matplotlib, and the default ``compare``
loads none of the optional heavy libraries. (How long that takes is measured by bench/startup.py, not here.)"""

from __future__ import annotations

import os
import subprocess
import sys

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
    assert "matplotlib" not in _top_level(loaded)  # the figure is drawn by another process


def test_the_figure_drawn_by_the_drawer_is_the_one_drawn_here(tmp_path):
    import descentlab as dl
    from descentlab.reporting.figure_process import FigureJob
    from descentlab.reporting.write import write_run

    comparison = dl.compare(config=dl.CompareConfig(iterations=20))
    write_run(comparison, tmp_path / "here")
    figure = FigureJob()
    write_run(comparison, tmp_path / "drawer", draw=figure)
    assert not (tmp_path / "drawer" / "curves.png").exists()  # only asked for
    drawer = figure.start()
    assert drawer.process is not None and drawer.process.pid != os.getpid()
    drawer.wait()
    assert (tmp_path / "drawer" / "curves.png").read_bytes() == (tmp_path / "here" / "curves.png").read_bytes()


def test_the_version_read_from_the_folder_name_is_the_one_importlib_metadata_reads():
    from importlib.metadata import version

    from descentlab.experiments.summary import installed_version

    for name in ("matplotlib", "numpy", "rich", "safetensors"):
        assert installed_version(name) == version(name)


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
