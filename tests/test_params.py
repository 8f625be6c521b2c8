import numpy as np
import pytest

from descentlab.core.params import Params, make_slots

SLOTS = make_slots([("W0", (3, 2)), ("b0", (3, 1)), ("W1", (2, 3)), ("b1", (2, 1))])


def test_views_are_laid_out_in_order_and_share_memory():
    flat = np.arange(17.0)
    p = Params(flat, SLOTS)
    assert p["W0"].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert p["b0"].tolist() == [[6], [7], [8]]
    assert p["W1"].tolist() == [[9, 10, 11], [12, 13, 14]]
    assert p["b1"].tolist() == [[15], [16]]
    p["W1"][1, 2] = -1.0
    assert flat[14] == -1.0
    assert list(p) == ["W0", "b0", "W1", "b1"] and len(p) == 4 and p.size == 17


def test_copy_is_independent():
    p = Params(np.zeros(17), SLOTS)
    q = p.copy()
    q["b0"][0, 0] = 5.0
    assert p["b0"][0, 0] == 0.0


def test_stacked_models_give_stacked_views_that_write_through():
    flat = np.arange(34.0).reshape(2, 17)
    p = Params(flat, SLOTS)
    assert p["W1"].shape == (2, 2, 3)
    assert p["W1"][1].tolist() == (17 + np.arange(9, 15)).reshape(2, 3).tolist()
    np.multiply(p["b1"], 0.0, out=p["b1"])
    assert flat[:, 15:].tolist() == [[0, 0], [0, 0]]


def test_wrong_size_is_refused():
    with pytest.raises(ValueError, match="does not hold 17"):
        Params(np.zeros(16), SLOTS)
