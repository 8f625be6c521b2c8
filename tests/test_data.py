import numpy as np
import pytest

import descentlab as dl


def test_embedded_iris_is_the_corrected_150_row_table(iris):
    assert iris.X.shape == (150, 4) and iris.X.dtype == np.float64
    assert iris.y.dtype == np.int64 and np.bincount(iris.y).tolist() == [50, 50, 50]
    assert iris.class_names == ("setosa", "versicolor", "virginica")
    assert iris.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    # Rows 35 and 38 (1-based) as Fisher printed them; the UCI file once had them wrong.
    assert iris.X[34].tolist() == [4.9, 3.1, 1.5, 0.2] and iris.X[37].tolist() == [4.9, 3.6, 1.4, 0.1]
    assert iris.X.sum() == pytest.approx(2078.7, abs=1e-9)


def test_split_is_stratified_disjoint_and_deterministic(iris):
    train, test = dl.train_test_split(iris, test_size=0.25, seed=0)
    assert (train.n_samples, test.n_samples) == (112, 38)
    assert np.bincount(test.y).tolist() == [13, 13, 12]
    again, _ = dl.train_test_split(iris, test_size=0.25, seed=0)
    assert np.array_equal(train.X, again.X)
    other, _ = dl.train_test_split(iris, test_size=0.25, seed=1)
    assert not np.array_equal(train.X, other.X)
    rows = {tuple(r) + (c,) for r, c in zip(iris.X.tolist(), iris.y.tolist(), strict=True)}
    got = [tuple(r) + (c,) for d in (train, test) for r, c in zip(d.X.tolist(), d.y.tolist(), strict=True)]
    assert len(got) == 150 and set(got) == rows


def test_dataset_encodes_labels_in_sorted_order():
    d = dl.Dataset([[1.0], [2.0], [3.0]], ["b", "a", "b"])
    assert d.class_names == ("a", "b") and d.y.tolist() == [1, 0, 1] and d.feature_names == ("x0",)


def test_split_refuses_a_class_too_small_to_stratify():
    d = dl.Dataset(np.zeros((5, 1)), [0, 0, 0, 0, 1])
    with pytest.raises(dl.DataError, match="class '1' has 1 row"):
        dl.train_test_split(d)


def test_standardizer_uses_training_statistics():
    s = dl.Standardizer.fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    assert s.transform(np.array([[1.0, 5.0], [3.0, 7.0]])).tolist() == [[0.0, 0.0], [2.0, 2.0]]


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("", "y", "the file is empty"),
        ("a,b\n1,x\n", "y", "no target column 'y'; the columns are: a, b"),
        ("a,y\n1,p\nzz,q\n", "y", ":3: column 'a' is not a number: 'zz'"),
        ("a,y\n1,p\nNA,q\n", "y", ":3: column 'a' has a missing value"),
        ("a,y\n1,p\ninf,q\n", "y", ":3: column 'a' is not finite: 'inf'"),
        ("a,y\n1,p\n2,p\n", "y", "fewer than two classes"),
        ("a,y\n1,p\n2\n", "y", ":3: 1 fields where the header has 2"),
        ("a,a,y\n1,2,p\n", "y", "duplicated column name(s): a"),
        (",a,y\n0,1,p\n1,2,q\n", "y", ":1: column 1 has no name; name every column (an index written by pandas?"),
        ("a, ,,y\n1,2,3,p\n", "y", ":1: columns 2, 3 have no name"),
        ("a,y\n", "y", "no data rows"),
    ],
)
def test_load_csv_errors_name_file_line_and_column(tmp_path, text, target, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(dl.DataError) as error:
        dl.load_csv(path, target=target)
    assert message in str(error.value) and str(path) in str(error.value)


def test_an_unnamed_column_is_no_obstacle_when_the_features_are_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(",a,y\n0,1,p\n1,2,q\n")
    assert tuple(dl.load_csv(path, target="y", features=["a"]).feature_names) == ("a",)


def test_load_csv_keeps_integer_labels_in_numeric_order(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("f,g,label\n1,2,10\n3,4,9\n5,6,10\n")
    d = dl.load_csv(path, target="label", features=["g"])
    assert d.class_names == ("9", "10") and d.y.tolist() == [1, 0, 1] and d.X.tolist() == [[2], [4], [6]]
