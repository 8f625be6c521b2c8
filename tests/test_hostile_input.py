"""Issue 11, as a hostile user: options that do not apply, markup in names, out-of-range numbers, hand-made model
files and files too large or endless to read. Every refusal is one line on stderr, no traceback, no file written."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save

import descentlab as dl
from descentlab.cli.main import main
from descentlab.formats.model_io import METADATA_KEY, _checksum

MARKUP_NAMES = ["sepal length [cm]", "[bold]width[/bold]", "[/]", "[link=https://example.org]l[/link]", "back\\slash\\"]
MARKUP_CLASSES = ["[red]a", "b[/]", "c\\"]


def cli(*args: str, cwd: Path, limit_bytes: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in a subprocess (optionally with its address space limited, so that reading or allocating
    gigabytes fails at once instead of slowly)."""

    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = {**os.environ, "COLUMNS": "1000"}  # wide enough that no line is wrapped: names are compared whole
    return subprocess.run([sys.executable, "-m", "descentlab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, env=env)


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_refusal(code: int, err: str, exit_code: int, *must_say: str) -> None:
    assert code == exit_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for text in must_say:
        assert text in lines[0], lines[0]


# -- 1. an option that does not apply is refused, not ignored ---------------------------------------------------
def test_train_target_without_data_is_refused_and_writes_nothing(tmp_path):
    done = cli("train", "--target", "species", "--out", "m.safetensors", "--iterations", "2", cwd=tmp_path)
    assert_one_line_refusal(done.returncode, done.stderr, 2, "--target", "without --data")
    assert files_in(tmp_path) == {}


@pytest.mark.parametrize("argv, says", [
    (["gradcheck", "--target", "y"], "--target"),
    (["compare", "--target", "y", "--out", "run"], "--target"),
    (["sweep", "--target", "y", "--out", "run"], "--target"),
    (["train", "--resume", "m.checkpoint", "--lr", "0.5"], "--lr: not with --resume"),
    (["compare", "--resume", "run/ck", "--iterations", "5", "--seed", "3"], "--iterations, --seed: not with --resume"),
    (["train", "--resume", "m.checkpoint", "--out", "other.safetensors"], "--out: not with --resume"),
    (["compare", "--optimizers", "gd:lr=0.1,adam:lr=0.01", "--lr", "0.5", "--out", "run"], "--lr: every method"),
    (["sweep", "--optimizers", "gd,adam:lr=0.001", "--lr", "0.1,0.01", "--out", "run"], "'adam:lr=0.001': a sweep"),
    (["train", "--optimizer", "gd:c=0.5", "--out", "m.safetensors"], "c only applies with a line search"),
    (["compare", "--out", ""], "argument --out: an empty path"),  # Path("") is the working directory
    (["sweep", "--out", " "], "argument --out: an empty path"),
    (["predict", "--model", "", "--data", "x.csv"], "argument --model: an empty path"),
])
def test_options_that_would_be_ignored_are_usage_errors(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    assert_one_line_refusal(code, capsys.readouterr().err, 2, says)
    assert files_in(tmp_path) == {}


@pytest.mark.parametrize("command", ["compare", "sweep", "train"])
def test_a_method_learning_rate_that_is_not_a_number_names_the_key_and_its_rule(command, tmp_path, capsys,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    flag = "--optimizer" if command == "train" else "--optimizers"
    code = main([command, flag, "adam:lr=abc", "--out", "x"])
    assert_one_line_refusal(code, capsys.readouterr().err, 2, "'adam:lr=abc': lr must be a number > 0, got 'abc'",
                            "adam takes lr")
    assert files_in(tmp_path) == {}


# -- 5. out-of-range numbers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, says", [
    (["train", "--seed", "-1"], "argument --seed: must be between 0 and 4294967295, got -1"),
    (["compare", "--seed", str(2**64)], "argument --seed: must be between 0 and"),
    (["sweep", "--seed", "-5"], "argument --seed"),
    (["gradcheck", "--seed", "1.5"], "argument --seed: not a whole number"),
    (["train", "--iterations", "-3"], "argument --iterations: must be at least 0"),
])
def test_out_of_range_integers_are_one_line_usage_errors(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--out", "x"] if argv[0] != "gradcheck" else argv)
    assert_one_line_refusal(code, capsys.readouterr().err, 2, says)
    assert files_in(tmp_path) == {}


def test_seed_minus_one_through_the_real_command(tmp_path):
    done = cli("train", "--seed", "-1", "--out", "m.safetensors", cwd=tmp_path)
    assert_one_line_refusal(done.returncode, done.stderr, 2, "--seed", "-1")
    assert files_in(tmp_path) == {}


@pytest.mark.parametrize("argv", [["train", "--iterations", "1", "--out", "a"], ["predict", "--model", "m", "--data",
                                                                               "d", "--out", "a"],
                                  ["export", "--model", "m", "--onnx", "a"]])
def test_a_file_output_that_is_a_symbolic_link_loop_is_refused(argv, tmp_path, monkeypatch, capsys):
    """It was written over (the link replaced by the file) by train; cp refuses it, and so does every command."""
    monkeypatch.chdir(tmp_path)
    os.symlink("b", "a")
    os.symlink("a", "b")
    assert main(argv) == 1
    assert_one_line_refusal(1, capsys.readouterr().err, 1, "a: is a symbolic link that leads nowhere")
    assert os.readlink("a") == "b" and os.readlink("b") == "a"


def test_a_header_of_fifty_thousand_columns_is_read_and_its_model_predicts(tmp_path):
    """Each column name was counted (duplicates) and looked up over the whole header, 2.5·10⁹ steps for this file:
    the command ran for minutes. Names are counted and placed in one pass now."""
    n = 50_000
    header = ",".join(f"c{i}" for i in range(n)) + ",y\n"
    (tmp_path / "wide.csv").write_text(header + "".join(",".join([str(r)] * n) + f",{'ab'[r % 2]}\n" for r in range(4)))
    done = cli("train", "--data", "wide.csv", "--hidden", "1", "--iterations", "1", "--test-size", "0.5",
               "--out", "m.safetensors", cwd=tmp_path, timeout=100)
    assert done.returncode == 0 and (tmp_path / "m.safetensors").is_file(), done.stderr
    done = cli("predict", "--model", "m.safetensors", "--data", "wide.csv", cwd=tmp_path, timeout=100)
    assert done.returncode == 0 and len(done.stdout.strip().splitlines()) == 5, done.stderr


def test_minus_zero_is_zero(tmp_path, monkeypatch):
    """``--init-sigma -0`` is σ = 0 (NumPy's normal refused -0.0 as a negative scale: a traceback)."""
    monkeypatch.chdir(tmp_path)
    argv = ["--hidden", "2", "--iterations", "1", "--quiet", "--init-mu", "0.5"]
    assert main(["train", *argv, "--init-sigma", "-0", "--out", "a.safetensors"]) == 0
    assert main(["train", *argv, "--init-sigma", "0", "--out", "b.safetensors"]) == 0
    assert dl.load_model("a.safetensors")[1].flat.tobytes() == dl.load_model("b.safetensors")[1].flat.tobytes()


@pytest.mark.parametrize("argv, says", [
    (["train", "--init-sigma", "1e300", "--out", "m.safetensors"], "--init-sigma 1e+300: the initial parameters"),
    (["compare", "--init-mu", "1e300", "--out", "run"], "with --init-mu 1e+300"),
    (["compare", "--init-sigma", "1e300", "--out", "run"], "--init-sigma 1e+300"),
    (["sweep", "--init-sigma", "1e300", "--seeds", "2", "--out", "run"], "--init-sigma 1e+300"),
    (["sweep", "--tune", "--init-sigma", "1e300", "--seeds", "2", "--out", "run"], "--init-sigma 1e+300"),
    (["train", "--weight-decay", "1e300", "--out", "m.safetensors"], "--weight-decay 1e+300"),
    (["gradcheck", "--init-sigma", "1e300"], "cannot check the gradient: --init-sigma 1e+300"),
])
def test_a_start_that_is_already_non_finite_names_the_option(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--quiet"] if argv[0] != "gradcheck" else argv)
    assert_one_line_refusal(code, capsys.readouterr().err, 1, says)
    assert not any(tmp_path.iterdir())  # not even an empty run folder


# -- 2. user text is never markup ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def markup_table(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("markup[dir]")
    rng = np.random.default_rng(0)
    lines = [",".join(MARKUP_NAMES) + ",kind"]
    for i in range(36):
        label = i % 3
        values = rng.normal(loc=2.0 * label, size=len(MARKUP_NAMES))
        lines.append(",".join(f"{v:.4f}" for v in values) + f",{MARKUP_CLASSES[label]}")
    path = folder / "flowers [v1].csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_paths_column_and_class_names_are_printed_as_typed(markup_table, tmp_path):
    model = "units[v2][bold].safetensors"
    done = cli("train", "--data", str(markup_table), "--out", model, "--iterations", "5", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Data: {markup_table}, 36 samples" in done.stdout
    assert f"Wrote {model}" in done.stdout
    assert (tmp_path / model).is_file()
    info = cli("info", "--model", model, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert f"Model {model} (format" in info.stdout
    assert f"Features: {', '.join(MARKUP_NAMES)}" in info.stdout, info.stdout
    assert f"Classes: {', '.join(MARKUP_CLASSES)}" in info.stdout


def test_predict_export_and_errors_print_names_as_typed(markup_table, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = "m[i]\\.safetensors"
    assert main(["train", "--data", str(markup_table), "--out", model, "--iterations", "3", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", model, "--data", str(markup_table), "--out", "p[red].csv"]) == 0
    assert "Wrote 36 predictions to p[red].csv" in capsys.readouterr().err
    assert main(["export", "--model", model, "--onnx", "[/]x\\"]) == 0
    assert "Wrote [/]x\\: input 'input'" in capsys.readouterr().out
    assert main(["info", "--model", "no[bold]such:smile:\\"]) == 1
    assert capsys.readouterr().err.strip() == "error: no[bold]such:smile:\\: no such model file"


# -- 6. hand-made model headers -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "good.safetensors"
    net = dl.MLP([4, 3, 3])
    dl.save_model(path, net, net.init(seed=0), metadata={"class_names": ["a", "b", "c"], "training": {"lr": 0.1}})
    return path


def rewritten(good: Path, target: Path, change, raw_text: str | None = None) -> Path:
    """A copy of ``good`` whose descentlab metadata is ``change(metadata)`` with a correct checksum (a hand-made
    file, not a damaged one); ``raw_text`` replaces the JSON text "PLACEHOLDER" after the checksum."""
    _, _, meta = dl.load_model(good)
    tensors = load_file(good)  # as stored, whatever the format version's tensor names
    meta = change(dict(meta))
    try:
        meta["checksum"] = _checksum(meta, tensors)
    except (TypeError, ValueError):
        pass
    text = json.dumps(meta, sort_keys=True)
    if raw_text is not None:
        text = text.replace('"PLACEHOLDER"', raw_text)
    target.write_bytes(save(tensors, metadata={METADATA_KEY: text}))
    return target


DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE_METADATA = {
    "version true": (lambda m: {**m, "format_version": True}, None, "format version True"),
    "version text": (lambda m: {**m, "format_version": "1"}, None, "format version '1'"),
    "version 1e400": (lambda m: {**m, "format_version": "PLACEHOLDER"}, "1e400", "format version inf"),
    "width true": (lambda m: {**m, "architecture": {"sizes": [4, True, 3], "activation": "softplus"}}, None,
                   "invalid architecture"),
    "width text": (lambda m: {**m, "architecture": {"sizes": [4, "3", 3], "activation": "softplus"}}, None,
                   "invalid architecture"),
    "width 1e400": (lambda m: {**m, "architecture": {"sizes": [4, "PLACEHOLDER", 3], "activation": "softplus"}},
                    "1e400", "invalid architecture"),
    "width 2.5": (lambda m: {**m, "architecture": {"sizes": [4, 2.5, 3], "activation": "softplus"}}, None,
                  "invalid architecture"),
    "architecture list": (lambda m: {**m, "architecture": [4, 3, 3]}, None, "invalid architecture"),
    "activation number": (lambda m: {**m, "architecture": {"sizes": [4, 3, 3], "activation": 5}}, None,
                          "invalid architecture"),
    "deep training": (lambda m: {**m, "training": "PLACEHOLDER"}, DEEP, "nested too deeply"),
    "huge integer": (lambda m: {**m, "training": "PLACEHOLDER"}, "9" * 5000, "not valid JSON"),
    "class names numbers": (lambda m: {**m, "class_names": [1, 2, 3]}, None, "class_names must be 3 strings"),
    "training list": (lambda m: {**m, "training": [1]}, None, "training must be an object"),
    "mean 1e400": (lambda m: {**m, "standardization": {"mean": [0, 0, 0, "PLACEHOLDER"], "scale": [1, 1, 1, 1]}},
                   "1e400", "standardization must hold 4 finite means"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_METADATA))
def test_hand_made_metadata_gets_one_line_naming_the_file(case, good_model, tmp_path, capsys):
    change, raw, says = HOSTILE_METADATA[case]
    path = rewritten(good_model, tmp_path / "hand[made].safetensors", change, raw)
    for command in (["info", "--model", str(path)], ["export", "--model", str(path), "--onnx", str(tmp_path / "x")],
                    ["predict", "--model", str(path), "--data", str(tmp_path / "none.csv")]):
        code = main(command)
        assert_one_line_refusal(code, capsys.readouterr().err, 1, str(path), says)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("header", [DEEP.encode(), b'{"__metadata__": [1, 2]}', b'{"__metadata__": {"descentlab": 7}}',
                                    b'{"W0": {"dtype": "F64", "shape": [3, 4], "data_offsets": [0, "8"]}}', b"1e400",
                                    b'{"W0": "PLACE"}'])
def test_hand_made_safetensors_headers_get_one_line(header, tmp_path, capsys):
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    checkpoint = tmp_path / "run" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "checkpoint.safetensors").write_bytes(path.read_bytes())
    assert_one_line_refusal(main(["info", "--model", str(path)]), capsys.readouterr().err, 1, str(path))
    code = main(["compare", "--resume", str(checkpoint), "--quiet"])
    assert_one_line_refusal(code, capsys.readouterr().err, 1, "checkpoint")


# -- 7. files that are endless, not files, or much larger than their header says --------------------------------
def test_special_files_are_refused_without_reading_them(tmp_path, capsys):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    for path, says in ((fifo, "not a regular file"), (tmp_path, "is a folder"), (Path("/dev/zero"), "not a regular")):
        assert_one_line_refusal(main(["info", "--model", str(path)]), capsys.readouterr().err, 1, str(path), says)


def test_dev_zero_and_a_3_gb_file_are_refused_within_a_small_memory_limit(good_model, tmp_path):
    """With the address space capped at 1.5 GB, reading /dev/zero or a 3 GB file whole fails (MemoryError); the
    header is checked first, so both are refused with one line."""
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as handle:  # sparse: 3 GB long, only the header and the first tensors written
        handle.write(good_model.read_bytes())
        handle.truncate(3 * 1024**3)
    for path, says in ((Path("/dev/zero"), "not a regular file"), (big, "bytes but its header describes")):
        done = cli("info", "--model", str(path), cwd=tmp_path, limit_bytes=1536 * 1024**2)
        assert_one_line_refusal(done.returncode, done.stderr, 1, str(path), says)


def test_growing_the_history_gives_the_same_history_as_preallocating_it(iris_split, monkeypatch):
    import descentlab.training.recorder as training

    train, test = iris_split
    net = dl.MLP([4, 5, 3])

    def run(**options):
        return dl.fit(net, net.init(seed=1), train, dl.NAG(lr=0.05), iterations=300, test=test, **options)

    monkeypatch.setattr(training, "HISTORY_START", 10**6)  # room for everything up front: the old behaviour
    whole = run()
    monkeypatch.setattr(training, "HISTORY_START", 7)  # 7 → 14 → … → 301: many doublings
    grown = run()
    asked = iter([False] * 40 + [True])
    first = run(should_stop=lambda: next(asked))
    resumed = run(resume=first)
    assert len(whole.history) == len(grown.history) == len(resumed.history) == 301 and len(first.history) == 41
    for name, values in whole.history.as_dict().items():
        np.testing.assert_array_equal(getattr(grown.history, name), values)
        np.testing.assert_array_equal(getattr(resumed.history, name), values)
    np.testing.assert_array_equal(grown.params.flat, whole.params.flat)


def test_a_hundred_million_iterations_start_at_once_in_little_memory_and_ctrl_c_saves_them(tmp_path):
    """Preallocating the history of 10⁸ iterations asks for 5.6 GB (which the machine has: the size check lets it
    through); with the address space capped at 2 GB the run must still start, and Ctrl-C must stop it with a
    checkpoint."""
    import signal
    import time

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    run = subprocess.Popen([sys.executable, "-u", "-m", "descentlab", "train", "--iterations", "100000000", "--out",
                            "m.safetensors"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=limit)
    try:
        assert "Network" in run.stdout.readline() + run.stdout.readline()  # data and network lines: set up
        time.sleep(1.0)
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, err
    assert "Traceback" not in err and "MemoryError" not in err
    assert (tmp_path / "m.safetensors.checkpoint" / "checkpoint.safetensors").is_file()


@pytest.mark.parametrize("argv, says", [
    (["sweep", "--seeds", "100000000", "--out", "run"], "the results of 600,000,000 models"),
    (["sweep", "--tune", "--hidden", "1000000000", "--out", "run"], "a 4 → 1000000000 → 3 network on 150 rows"),
    (["train", "--hidden", "1000000000", "--out", "m.safetensors"], "a 4 → 1000000000 → 3 network on 150 rows"),
    (["compare", "--hidden", "100000", "100000", "--out", "run"], "use fewer or narrower --hidden layers"),
    (["gradcheck", "--hidden", "100000", "100000"], "would need about"),
    (["compare", "--iterations", "1000000000000", "--out", "run"], "the results of 2 models of 1,000,000,000,001 "
                                                                    "history entries"),
    (["train", "--iterations", str(2**63), "--out", "m.safetensors"], "or fewer --iterations"),
    (["benchmark", "--seeds", "1000000000", "--problems", "iris-mlp", "--out", "b"], "iris-mlp: the results of"),
    (["benchmark", "--iterations", "1000000000000", "--problems", "quadratic-k1e3", "--out", "b"],
     "quadratic-k1e3: the results of 40 models of 1,000,000,000,001 history entries"),
])
def test_sizes_no_machine_holds_are_refused_before_allocating(argv, says, tmp_path):
    done = cli(*argv, cwd=tmp_path, limit_bytes=2 * 1024**3)
    assert_one_line_refusal(done.returncode, done.stderr, 1, says, "of memory and this machine has")
    assert files_in(tmp_path) == {}


# -- 8. an ONNX export is checked against the model before it is written ----------------------------------------
def write_tiny_scale_table(path: Path) -> Path:
    """Three classes; the second feature is of scale 1e-40, which --standardize divides by."""
    rng = np.random.default_rng(0)
    lines = ["a,tiny,c,label"]
    for i in range(60):
        k = i % 3
        lines.append(f"{rng.normal(k):.5f},{rng.normal(k) * 1e-40:.6e},{rng.normal(-k):.5f},{'xyz'[k]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_export_float32_cannot_represent_is_refused_and_not_written(tmp_path):
    table = write_tiny_scale_table(tmp_path / "tiny.csv")
    trained = cli("train", "--data", str(table), "--standardize", "--out", "m.safetensors", "--iterations", "30",
                  "--quiet", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    predicted = cli("predict", "--model", "m.safetensors", "--data", str(table), cwd=tmp_path)
    assert predicted.returncode == 0 and "nan" not in predicted.stdout.lower()  # descentlab itself is fine
    done = cli("export", "--model", "m.safetensors", "--onnx", "m.onnx", cwd=tmp_path)
    assert_one_line_refusal(done.returncode, done.stderr, 1, "m.onnx not written", "beyond float32's",
                            "does not agree with the model on 77 of 77 sample rows")
    assert not (tmp_path / "m.onnx").exists()


def test_the_library_raises_before_writing_and_a_healthy_export_passes_the_same_check(tmp_path):
    from descentlab.formats.onnx_check import ExportMismatch, sample_rows

    net = dl.MLP([3, 4, 3])
    params = net.init(seed=0)
    tiny = {"mean": [0.0, 1e-40, 0.0], "scale": [1.0, 1e-40, 1.0]}
    with pytest.raises(ExportMismatch, match=r"77 of 77 sample rows .*reach [0-9.]+e\+(39|40), beyond float32"):
        dl.export_onnx(net, params, tmp_path / "bad.onnx", standardization=tiny)
    assert not (tmp_path / "bad.onnx").exists()
    healthy = {"mean": [5.0, -2.0, 100.0], "scale": [0.5, 3.0, 20.0]}
    dl.export_onnx(net, params, tmp_path / "good.onnx", standardization=healthy)
    rows = sample_rows(3, healthy)
    assert rows.shape == (1 + 4 * 3 + 64, 3) and np.allclose(rows[0], healthy["mean"])
    np.testing.assert_allclose(rows[1:13:4].diagonal(), np.array(healthy["mean"]) - 3 * np.array(healthy["scale"]))


def test_without_onnxruntime_the_export_is_written_with_a_loud_warning(tmp_path):
    net = dl.MLP([4, 3, 3])
    dl.save_model(tmp_path / "m.safetensors", net, net.init(seed=0))
    code = ("import sys; sys.modules['onnxruntime'] = None; from descentlab.cli.main import main; "
            "sys.exit(main(['export', '--model', 'm.safetensors', '--onnx', 'm.onnx']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().startswith("warning: onnxruntime is not installed, so this export is UNVERIFIED")
    assert (tmp_path / "m.onnx").is_file()


# -- 6b. hand-made checkpoints (right checksum, wrong content) ---------------------------------------------------
@pytest.fixture(scope="module")
def interrupted_checkpoint(tmp_path_factory) -> Path:
    from descentlab.experiments.checkpoint import write_checkpoint
    from descentlab.experiments.compare import compare
    from descentlab.experiments.config import CompareConfig

    folder = tmp_path_factory.mktemp("ck") / "m.safetensors.checkpoint"
    config = CompareConfig(iterations=50, optimizers=("adam",))
    asked = iter([False] * 5 + [True])
    comparison = compare(dl.load_iris(), config, should_stop=lambda: next(asked))
    assert comparison.interrupted
    write_checkpoint(comparison, folder, dl.load_iris(), {"command": "train", "out": str(folder.parent / "m.st"),
                                                           "cwd": str(folder.parent)})
    return folder


CHECKPOINT_EDITS = {
    "hidden [0]": (lambda m: m["config"].__setitem__("hidden", [0]), "configuration is out of range"),
    "hidden text": (lambda m: m["config"].__setitem__("hidden", "16"), "values of the wrong type: ['hidden']"),
    "test_size 2": (lambda m: m["config"].__setitem__("test_size", 2.0), "configuration is out of range"),
    "engine bogus": (lambda m: m["config"].__setitem__("engine", "bogus"), "there is no engine 'bogus'"),
    "no config": (lambda m: m.pop("config"), "holds no valid run configuration"),
    "k text": (lambda m: m["methods"][0]["state"]["scalars"].__setitem__("k", "abc"), "state field k holds 'abc'"),
    "k true": (lambda m: m["methods"][0]["state"]["scalars"].__setitem__("k", True), "state field k holds True"),
    "state class": (lambda m: m["methods"][0]["state"].__setitem__("class", "GDState"), "inconsistent checkpoint"),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_EDITS))
def test_a_hand_made_checkpoint_is_refused_in_one_line(case, interrupted_checkpoint, tmp_path, capsys):
    import shutil

    from safetensors import safe_open

    edit, says = CHECKPOINT_EDITS[case]
    folder = tmp_path / interrupted_checkpoint.name
    shutil.copytree(interrupted_checkpoint, folder)
    path = folder / "checkpoint.safetensors"
    with safe_open(path, "np") as handle:
        meta = json.loads(handle.metadata()[METADATA_KEY])
    tensors = load_file(path)
    edit(meta)
    meta.pop("checksum")
    meta["checksum"] = _checksum(meta, tensors)
    path.write_bytes(save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))
    code = main(["train", "--resume", str(folder), "--quiet"])
    assert_one_line_refusal(code, capsys.readouterr().err, 1, says)
    assert path.is_file()  # the checkpoint the user named is kept
