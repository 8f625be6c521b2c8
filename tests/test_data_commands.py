"""Data the commands cannot use is refused with one line naming the file (and line and column), before any work
and without writing anything (issue 11, the data items); data they can use is read by one documented rule."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import descentlab as dl


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "descentlab", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def one_error_line(done) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0].removeprefix("error: ")


def table(path, header, rows):
    path.write_text("\n".join([header, *(",".join(map(str, row)) for row in rows)]) + "\n")
    return path


def blobs(n=30, classes=("a", "b", "c"), scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [[repr(scale * (rng.normal() + i % len(classes))), repr(rng.normal()), classes[i % len(classes)]]
            for i in range(n)]


def test_a_file_without_header_row_is_refused_not_trained_with_data_as_names(tmp_path):
    path = tmp_path / "iris.data"
    path.write_text("5.1,3.5,1.4,0.2,Iris-setosa\n4.9,3.0,1.4,0.2,Iris-setosa\n7.0,3.2,4.7,1.4,Iris-versicolor\n")
    done = run("train", "--data", path, "--out", "m.safetensors", "--iterations", 1, cwd=tmp_path)
    assert one_error_line(done) == (f"{path}:1: the first line looks like data, not a header row (its column names "
                                    "are numbers: 5.1, 3.5, 1.4, 0.2, …); add a first line naming the columns")
    assert not (tmp_path / "m.safetensors").exists()


def test_column_positions_as_names_are_a_header(tmp_path):
    # pandas writes a frame without column names as 0,1,2,…: that is a header, not data.
    path = table(tmp_path / "t.csv", "0,1,label", blobs())
    assert dl.load_csv(path).feature_names == ("0", "1")


@pytest.mark.parametrize("delimiter, shown", [(";", "';'"), ("\t", "a tab")])
def test_another_delimiter_is_named(tmp_path, delimiter, shown):
    path = tmp_path / "t.csv"
    path.write_text("\n".join(delimiter.join(row) for row in [["x", "y", "label"], *blobs()]) + "\n")
    done = run("compare", "--data", path, "--out", "run", "--quiet", cwd=tmp_path)
    assert f"the delimiter looks like {shown}; descentlab reads comma-separated files" in one_error_line(done)
    assert not (tmp_path / "run").exists()


def test_integer_looking_labels_equal_as_numbers_are_one_class(tmp_path):
    rows = [[repr(float(i)), label] for i, label in enumerate(["1", "01", "1.0", " 2", "2.00", "1e0"] * 4)]
    path = table(tmp_path / "t.csv", "x,label", rows)
    done = run("train", "--data", path, "--out", "m.safetensors", "--iterations", 2, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = dl.load_model(tmp_path / "m.safetensors")[2]
    assert meta["class_names"] == ["1", "2"]
    data = dl.load_csv(path)
    assert data.y.tolist() == [0, 0, 0, 1, 1, 0] * 4


def test_numeric_labels_are_ordered_by_value_and_text_labels_stay_text(tmp_path):
    numbers = table(tmp_path / "n.csv", "x,label", [[i, label] for i, label in enumerate(["10", "-2.5", "9", "+9"])])
    assert dl.load_csv(numbers).class_names == ("-2.5", "9", "10")
    mixed = table(tmp_path / "m.csv", "x,label", [[i, label] for i, label in enumerate(["1", "01", "a"])])
    assert dl.load_csv(mixed).class_names == ("01", "1", "a")


def test_tiny_classes_cannot_silently_double_the_test_set(tmp_path):
    rows = [[repr(float(i)), repr(float(c)), f"c{c}"] for c in range(200) for i in range(2)]
    path = table(tmp_path / "t.csv", "x,y,label", rows)
    done = run("train", "--data", path, "--out", "m.safetensors", "--test-size", 0.25, cwd=tmp_path)
    assert one_error_line(done) == (
        f"{path}: column 'label': class 'c0' has 2 rows: with 200 classes each needing a row on both sides, the test "
        "set would hold 200 rows instead of the 100 that test size 0.25 of 400 rows asks; use fewer, larger classes "
        "or another test size")
    assert not (tmp_path / "m.safetensors").exists()


def test_a_small_class_takes_its_test_row_from_the_others_so_the_size_asked_holds():
    y = np.repeat([0, 1, 2], [100, 100, 2])
    data = dl.Dataset(np.arange(202.0)[:, None], y)
    train, test = dl.train_test_split(data, test_size=0.1, seed=0)
    assert test.n_samples == 21 and np.bincount(test.y).tolist() == [10, 10, 1]


@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(1, 12), min_size=2, max_size=8), test_size=st.floats(0.01, 0.99))
def test_the_split_has_the_size_asked_or_is_refused(counts, test_size):
    y = np.repeat(np.arange(len(counts)), counts)
    data = dl.Dataset(np.zeros((y.size, 1)), y, class_names=[f"c{c}" for c in range(len(counts))])
    try:
        train, test = dl.train_test_split(data, test_size=test_size, seed=1)
    except dl.DataError as error:
        n_test, k = int(np.ceil(test_size * y.size)), len(counts)
        assert min(counts) < 2 or n_test >= y.size or k > n_test or k > y.size - n_test, str(error)
        return
    assert test.n_samples == int(np.ceil(test_size * y.size))
    assert (np.bincount(test.y, minlength=len(counts)) >= 1).all()
    assert (np.bincount(train.y, minlength=len(counts)) >= 1).all()


def test_a_single_row_class_is_named_with_file_and_column(tmp_path):
    path = table(tmp_path / "t.csv", "x,y,kind", [*blobs(), ["1.0", "2.0", "lonely"]])
    done = run("compare", "--data", path, "--target", "kind", "--out", "run", "--quiet", cwd=tmp_path)
    assert one_error_line(done) == (f"{path}: column 'kind': class 'lonely' has 1 row(s); at least 2 are needed "
                                    "to stratify")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "gradcheck"])
def test_features_too_large_to_compute_with_are_refused_naming_line_and_column(tmp_path, command):
    rows = blobs()
    rows[6][1] = "-1.5e200"
    path = table(tmp_path / "t.csv", "x,y,label", rows)
    done = run(command, "--data", path, *([] if command == "gradcheck" else ["--out", "out", "--quiet"]),
               cwd=tmp_path)
    assert one_error_line(done) == (f"{path}:8: column 'y' holds -1.5e+200, beyond ±1e+100 (products and squares "
                                    "of features would overflow); rescale the column")
    assert not (tmp_path / "out").exists()


def write_model(path, standardization=None):
    """A model of two features x, y and three classes, as train writes it (no training needed here)."""
    net = dl.MLP([2, 4, 3])
    meta = {"feature_names": ["x", "y"], "class_names": ["a", "b", "c"], "standardization": standardization}
    dl.save_model(path, net, net.init(seed=0), metadata=meta)
    return path


def test_predict_refuses_rows_it_cannot_compute_instead_of_printing_nan(tmp_path):
    write_model(tmp_path / "m.safetensors")
    rows = table(tmp_path / "new.csv", "y,x", [[1, 2], ["-1e308", "1e308"], [3, 4]])
    done = run("predict", "--model", "m.safetensors", "--data", rows, "--out", "p.csv", cwd=tmp_path)
    assert one_error_line(done) == (f"{rows}:3: column 'x' holds 1e+308, beyond ±1e+100 (products and squares of "
                                    "features would overflow); rescale the column")
    assert not (tmp_path / "p.csv").exists()


def test_predict_names_the_row_whose_standardised_values_overflow(tmp_path):
    # A column of scale 1e-250 standardises with scale ~1e-250: 1e90 in it becomes 1e340, beyond float64.
    path = table(tmp_path / "t.csv", "x,y,label", blobs(scale=1e-250))
    data = dl.load_csv(path)
    write_model(tmp_path / "m.safetensors", dl.Standardizer.fit(data.X).to_json())
    rows = table(tmp_path / "new.csv", "x,y", [["1e-250", 2], ["1e90", 0.5]])
    done = run("predict", "--model", "m.safetensors", "--data", rows, cwd=tmp_path)
    assert one_error_line(done) == (f"{rows}:3: column 'x' holds 1e+90, too far out for this model: its "
                                    "probabilities overflow (1 row(s) like this)")
    assert done.stdout == ""


def test_standardising_finds_the_true_scale_of_tiny_columns():
    X = np.array([[1e-170], [3e-170], [2e-170], [6e-170]])  # the squares underflow to 0 in float64
    scaler = dl.Standardizer.fit(X)
    np.testing.assert_allclose(scaler.scale, [np.std([1.0, 3.0, 2.0, 6.0]) * 1e-170], rtol=1e-14)
    np.testing.assert_allclose(scaler.transform(X).std(), 1.0, rtol=1e-14)


def test_standardising_to_a_non_finite_value_names_file_and_column():
    data = dl.Dataset([[1.0, 1e300], [2.0, -1e300]], ["a", "b"], ["width", "depth"], source="t.csv", target="kind")
    scaler = dl.Standardizer(np.zeros(2), np.array([1.0, 1e-300]))
    with pytest.raises(dl.DataError, match=r"^t\.csv: column 'depth': standardising gives a non-finite value"):
        scaler.apply(data)


def special_paths(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.csv").write_text("x,label\n1,a\n")
    paths = {
        "folder": (tmp_path / "folder", "is a directory, not a CSV file"),
        "missing": (tmp_path / "missing.csv", "no such file"),
        "/dev/null": ("/dev/null", "is a device or other special file, not a CSV file"),
        "under a file": (tmp_path / "plain.csv" / "x.csv", "cannot open the file: Not a directory"),
    }
    if os.path.exists("/proc/self/mem"):  # opens, then every read fails with EIO
        paths["EIO"] = ("/proc/self/mem", "cannot read the file: Input/output error")
    return paths


@pytest.mark.parametrize("which", ["folder", "missing", "/dev/null", "under a file", "EIO"])
@pytest.mark.parametrize("command", ["train", "predict"])
def test_operating_system_errors_on_the_data_path_are_one_line(tmp_path, which, command):
    paths = special_paths(tmp_path)
    if which not in paths:
        pytest.skip("no /proc/self/mem here")
    path, message = paths[which]
    if command == "predict":
        write_model(tmp_path / "m.safetensors")
        done = run("predict", "--model", "m.safetensors", "--data", path, "--out", "p.csv", cwd=tmp_path)
    else:
        done = run("train", "--data", path, "--out", "p.csv", cwd=tmp_path)
    assert one_error_line(done) == f"{path}: {message}"
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its permissions")
def test_an_unreadable_data_file_is_one_line(tmp_path):
    path = table(tmp_path / "t.csv", "x,y,label", blobs())
    path.chmod(0)
    done = run("train", "--data", path, "--out", "m.safetensors", cwd=tmp_path)
    assert one_error_line(done) == f"{path}: permission denied (cannot read the file)"


def test_gradcheck_blames_non_finite_data_not_the_gradient(iris):
    from descentlab.core.gradcheck import gradcheck  # dl.gradcheck is the module once another test imported it

    net = dl.MLP([4, 5, 3])
    params = net.init(seed=0)
    X = iris.X[:10].copy()
    X[3, 2] = np.nan
    with pytest.raises(dl.DataError, match=r"^the data are not finite \(row 3, column 2 holds nan\)"):
        gradcheck(net, params, X, iris.y[:10])
    with pytest.raises(dl.DataError, match="the loss or its gradient is not finite at the point checked"):
        gradcheck(net, params, np.full((10, 4), 1.5e308), iris.y[:10])


def test_a_large_file_reports_its_progress_to_the_end(tmp_path, monkeypatch):
    from descentlab.data import csvread

    monkeypatch.setattr(csvread, "BLOCK_BYTES", 1 << 16)
    path = table(tmp_path / "t.csv", "x,y,label", blobs(60_000))
    seen = []
    data = dl.load_csv(path, progress=lambda done, total: seen.append((done, total)))
    assert data.n_samples == 60_000 and len(seen) >= 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (path.stat().st_size,) * 2


def test_a_symbolic_link_loop_as_data_is_one_line(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    done = run("train", "--data", tmp_path / "a.csv", "--out", "m.safetensors", cwd=tmp_path)
    assert one_error_line(done) == f"{tmp_path / 'a.csv'}: cannot open the file: Too many levels of symbolic links"
    assert not (tmp_path / "m.safetensors").exists()
