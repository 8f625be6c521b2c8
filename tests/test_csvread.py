"""The CSV reader: malformed files get one ``file:line: column`` message, and the fast block reader agrees with
a plain ``csv``-module reader (the reference below, written independently) on every generated table."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab.data import csvread


@pytest.mark.parametrize(
    "content, message",
    [
        ("\ufeffa,y\n1,p\nzz,q\n".encode(), ":3: column 'a' is not a number: 'zz'"),
        (b"a,y\r\n1,p\r\nzz,q\r\n", ":3: column 'a' is not a number: 'zz'"),
        (b'"a","y"\n"1","p"\n"",q\n', ":3: column 'a' has a missing value"),
        (b'a,y\n"1","p\nx"\n"2",q\nzz,q\n', ":5: column 'a' is not a number: 'zz'"),  # line 5 of the file
        ("a,y\n1,p\n2,q\n".encode("utf-16"), ": not a UTF-8 text file (it is UTF-16; save it as UTF-8)"),
        ("a,y\n1,p\n2,q\n".encode("utf-16-le"), ":1: the header holds NUL bytes"),
        ("a,y\n1,p\n2,é\n".encode("latin-1"), ":3: not a UTF-8 text file (byte 0xe9)"),
        (b"a,y\n1,p\n2\x00,q\n", ":3: column 'a' is not a number: '2\\x00'"),
        (b"a,y\n1,p\n2,q,3\n", ":3: 3 fields where the header has 2"),
        (b"a,y\n1,p\n,q\n", ":3: column 'a' has a missing value"),
        (b"a,y\n1,p\nnan,q\n", ":3: column 'a' has a missing value"),
        (b"a,y\n1,p\n-Infinity,q\n", ":3: column 'a' is not finite: '-Infinity'"),
        (b"a,y\n1,p\n1e400,q\n", ":3: column 'a' is not finite: '1e400'"),
        (b"a,y\n1,p\n2, \n", ":3: column 'y' has a missing value"),
        (b"a,y\r1,p\rzz,q\r", ":3: column 'a' is not a number: 'zz'"),
        (b"\na,y\n1,p\n", ":1: the first line is blank"),
    ],
)
def test_a_malformed_file_gets_one_message_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(dl.DataError) as error:
        dl.load_csv(path)
    assert str(error.value).startswith(f"{path}{message}") and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffa,y\n1,p\n2,q\n".encode(),
        b"a,y\r\n1,p\r\n2,q\r\n",
        b'"a","y"\n"1","p"\n2,"q"\n',
        b"a,y\r1,p\r2,q\r",
        b"a,y\n1,p\n\n2,q\n\n",
        b"a , y\n 1 , p \n2,q",
    ],
)
def test_files_that_always_worked_still_read_the_same(tmp_path, content):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    data = dl.load_csv(path)
    assert data.X.tolist() == [[1.0], [2.0]] and data.class_names == ("p", "q") and data.feature_names == ("a",)


def reference_read(path, numeric_names, label_name):
    """The reader before the fast one existed: csv.reader, one record at a time, line of the record's start."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader)]
        numeric = [header.index(n) for n in numeric_names]
        label = header.index(label_name)
        X, labels, lines = [], [], []
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise dl.DataError(f"{path}:{line}: {len(row)} fields where the header has {len(header)}")
            values = []
            for j in numeric:
                cell = row[j].strip()
                if cell.lower() in ("", "na", "nan", "null", "none", "?"):
                    raise dl.DataError(f"{path}:{line}: column {header[j]!r} has a missing value")
                try:
                    value = float(cell)
                except ValueError:
                    raise dl.DataError(f"{path}:{line}: column {header[j]!r} is not a number: {cell!r}") from None
                if not math.isfinite(value):
                    raise dl.DataError(f"{path}:{line}: column {header[j]!r} is not finite: {cell!r}")
                values.append(value)
            text = row[label].strip()
            if text == "":
                raise dl.DataError(f"{path}:{line}: column {header[label]!r} has a missing value")
            X.append(values)
            labels.append(text)
            lines.append(line)
    return X, labels, lines


good_cells = st.sampled_from(["1", "-2.5", " 3 ", "4e-3", ".5", "6.", '"7"', "+8", "1_0", "0.1234567890123456789"])
bad_cells = st.sampled_from(["", "x", "nan", "inf", "1e999", '"1', "NA", "1 2", '"a,b"', "\u0663", "1\x00"])
labels = st.sampled_from(["a", "b", " a", '"b"', "é", "", '"c\nd"', "1", "01", '""'])
endings = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def tables(draw):
    rows = draw(st.lists(st.tuples(st.one_of(good_cells, good_cells, good_cells, bad_cells), good_cells, labels,
                                   st.sampled_from(["", "", "", "extra", "\n"])), min_size=1, max_size=40))
    ending = draw(endings)
    mixed = draw(st.booleans())  # now and then another line end in the middle of the file
    text = "f,g,label" + ending
    for f, g, label, odd in rows:
        if odd == "\n":
            text += ending  # a blank line
        text += f"{f},{g},{label}" + (f",{odd}" if odd == "extra" else "")
        text += draw(endings) if mixed else ending
    return text[: -1 if draw(st.booleans()) else None]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=tables(), block=st.sampled_from([16, 64, 1 << 20]))
def test_the_fast_reader_agrees_with_the_reference_on_generated_tables(tmp_path, monkeypatch, text, block):
    monkeypatch.setattr(csvread, "BLOCK_BYTES", block)  # many blocks, so the hand-over is exercised
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    try:
        expected = reference_read(path, ["f", "g"], "label")
    except dl.DataError as error:
        with pytest.raises(dl.DataError) as got:
            csvread.read_table(path, lambda header: ([0, 1], 2))
        assert str(got.value) == str(error)
        return
    table = csvread.read_table(path, lambda header: ([0, 1], 2))
    X, labels_, lines = expected
    assert table.X.tolist() == X and table.lines.tolist() == lines
    assert [table.labels[c] for c in table.label_codes] == labels_
    assert table.X.dtype == np.float64 and table.X.shape == (len(X), 2)


def test_a_column_name_with_a_line_break_is_shown_escaped_in_one_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('"a\nb",label\n1,p\n2,q\n')
    with pytest.raises(dl.DataError) as error:
        dl.load_csv(path, target="kind")
    assert str(error.value) == f"{path}:1: no target column 'kind'; the columns are: a\\nb, label"


@pytest.mark.parametrize("block", [64, 1 << 20])
def test_an_overlong_line_is_refused_not_read_into_memory(tmp_path, monkeypatch, block):
    monkeypatch.setattr(csvread, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(csvread, "BLOCK_BYTES", block)
    path = tmp_path / "t.csv"
    path.write_text("x,label\n1,a\n" + "1," * 3000 + "b\n2,b\n")
    with pytest.raises(dl.DataError) as error:
        dl.load_csv(path)
    assert str(error.value) == f"{path}:3: a line longer than {1000 / 2**20:g} MiB"
