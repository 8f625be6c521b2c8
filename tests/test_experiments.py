"""Sweeps: many models trained as one stacked batch must equal the same models trained one by one."""

from __future__ import annotations

import json

import numpy as np
import pytest

import descentlab as dl
from descentlab.experiments.compare import prepare
from descentlab.experiments.config import CompareConfig, SweepConfig
from descentlab.experiments.statistics import paired_comparison, status_counts, time_to_target
from descentlab.experiments.sweeprun import sweep
from descentlab.reporting.write import write_sweep


@pytest.mark.parametrize("spec", ["gd", "nag", "nag-restart", "adam"])
def test_a_sweep_equals_separate_fits_of_every_model(spec):
    config = SweepConfig(optimizers=(spec,), lrs=(0.005, 0.0123, 0.02), seeds=3, base=CompareConfig(iterations=120))
    result = sweep(config=config)
    train, test, _, net, _ = prepare(dl.load_iris(), config.base)
    stacked = result.results[spec]
    assert stacked.history.train_loss.shape == (121, 9)
    for m, (lr, seed) in enumerate(result.grid):
        single = dl.fit(net, net.init(seed=seed), train, dl.parse_optimizer(spec, lr=lr), 120, test=test)
        np.testing.assert_allclose(stacked.params.flat[m], single.params.flat, rtol=0, atol=1e-10)
        for field in ("train_loss", "test_loss", "grad_norm"):
            np.testing.assert_allclose(getattr(stacked.history, field)[:, m], getattr(single.history, field),
                                       rtol=1e-10, atol=0)
        for field in ("train_accuracy", "test_accuracy"):
            np.testing.assert_array_equal(getattr(stacked.history, field)[:, m], getattr(single.history, field))


def test_a_diverging_model_keeps_its_last_finite_parameters_and_the_others_carry_on():
    config = SweepConfig(optimizers=("gd",), lrs=(0.01, 1e200), seeds=2, base=CompareConfig(iterations=60))
    result = sweep(config=config).results["gd"]
    train, _, _, net, _ = prepare(dl.load_iris(), config.base)
    diverged = ~np.isfinite(result.history.train_loss[-1])
    assert diverged.tolist() == [False, False, True, True]
    assert "2 of 4 models went non-finite" in result.stopped and "[2, 3]" in result.stopped
    assert np.all(np.isfinite(result.params.flat))
    single = dl.fit(net, net.init(seed=0), train, dl.GD(lr=1e200), 60)
    assert single.stopped is not None
    np.testing.assert_allclose(result.params.flat[2], single.params.flat, rtol=0, atol=1e-10)
    calm = dl.fit(net, net.init(seed=1), train, dl.GD(lr=0.01), 60)
    np.testing.assert_allclose(result.params.flat[1], calm.params.flat, rtol=0, atol=1e-12)


def test_sweep_files_and_report_agree_with_the_results(tmp_path):
    result = sweep(config=SweepConfig(seeds=3, base=CompareConfig(iterations=80)))
    write_sweep(result, tmp_path)
    rows = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 9
    header = rows[0].split(",")
    nag_rows = [dict(zip(header, r.split(","), strict=True)) for r in rows[1:] if r.startswith("nag,")]
    for m, row in enumerate(nag_rows):
        assert float(row["final_train_loss"]) == result.results["nag"].history.train_loss[-1, m]
    report = (tmp_path / "report.md").read_text()
    gd, nag = result.results["gd"].history.train_loss[-1], result.results["nag"].history.train_loss[-1]
    wins = int(np.sum(nag < gd))
    p = paired_comparison(gd, nag, "training loss", seed=0, clusters=[seed for _, seed in result.grid])
    pooled = f"| all pooled | training loss | {wins} / 0 / {9 - wins} | {p.median:+.4f} [{p.low:+.4f}, {p.high:+.4f}] |"
    assert pooled in report
    # the 9 pairs share 3 seeds: resampled as 3 clusters, one sign-test vote per seed (p = 2/8 at best); the
    # report's 12 comparisons (3 learning rates and the pooled row, 3 metrics each) form one Holm family
    assert p.p_value >= 0.25 and "Holm (1979)" in report and "cluster bootstrap" in report
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["methods"]["nag"]["status"] == status_counts(r["status"] for r in result.rows
                                                                 if r["optimizer"] == "nag")
    assert summary["paired_all_lrs"]["nag"][0]["wins"] == wins
    assert summary["paired_all_lrs"]["nag"][0]["p_value"] == p.p_value
    assert summary["paired_all_lrs"]["nag"][0]["p_adjusted"] >= p.p_value
    assert "at the same learning rate" in report
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_comparison_interrupted_and_resumed_from_its_checkpoint_ends_bit_identical(tmp_path):
    from descentlab.experiments.checkpoint import resume, write_checkpoint
    from descentlab.experiments.compare import compare

    data = dl.load_iris()
    config = CompareConfig(iterations=80, optimizers=("gd", "nag:restart=function", "adam"), batch_size=30)
    whole = compare(data, config)
    asked = iter(range(10**6))
    first = compare(data, config, should_stop=lambda: next(asked) == 80 + 33)  # asked at k = 0..79, then in nag
    assert first.interrupted and first.pending == ["adam"]
    assert not first.results["gd"].interrupted and first.results["nag:restart=function"].iterations == 33
    write_checkpoint(first, tmp_path, data, {"command": "compare"})
    done = resume(tmp_path, data)
    assert not done.interrupted and list(done.results) == list(whole.results)
    for name, result in whole.results.items():
        assert np.array_equal(done.results[name].params.flat, result.params.flat), name
        for field, values in result.history.as_dict().items():
            np.testing.assert_array_equal(getattr(done.results[name].history, field), values, err_msg=field)
    other = dl.Dataset(data.X + 1.0, data.y)
    with pytest.raises(ValueError, match="data differ"):
        resume(tmp_path, other)


def test_time_to_target_counts_the_runs_that_never_reach_it(tmp_path):
    config = SweepConfig(optimizers=("nag", "gd"), lrs=(0.01,), seeds=4, base=CompareConfig(iterations=80))
    result = sweep(config=config)
    write_sweep(result, tmp_path)
    nag, gd = (result.results[n].history.train_loss for n in ("nag", "gd"))
    times = []
    for m in range(4):
        hits = np.flatnonzero(gd[:, m] <= nag[-1, m])
        times.append(float(hits[0]) if hits.size else None)
    reach = time_to_target(times)
    assert reach.runs == 4 and reach.reached < 4  # GD at lr 0.01 does not catch up with NAG in 80 iterations
    assert f"final training loss after {reach}." in (tmp_path / "report.md").read_text()
    assert "not reached" in str(reach) and "Kaplan–Meier" in (tmp_path / "report.md").read_text()
