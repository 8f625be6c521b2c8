"""``descentlab gradcheck``: the analytic gradient against finite differences, one row per parameter tensor."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .common import UserError, check_size, load_data, network_line, say, start_cause

if TYPE_CHECKING:
    from rich.console import Console


def run_gradcheck(args: argparse.Namespace, out: Console, err: Console) -> int:
    import numpy as np
    from rich.table import Table

    from ..core.gradcheck import check_eta, gradcheck
    from ..core.network import MLP
    from ..data.dataset import train_test_split

    try:
        check_eta(args.eps)
    except ValueError as error:
        raise UserError(f"--{error}") from None
    data, source = load_data(args)
    train, _ = train_test_split(data, test_size=args.test_size, seed=args.seed)
    n = train.n_samples if args.samples is None else min(args.samples, train.n_samples)
    net = MLP([data.n_features, *args.hidden, data.n_classes], args.activation)
    check_size(net.sizes, n)
    params = net.init(seed=args.seed, mu=args.init_mu, sigma=args.init_sigma, scheme=args.init)
    say(out, f"Data: {source}, first {n} of {train.n_samples} training samples")
    out.print(network_line(net))
    with np.errstate(all="ignore"):  # a non-finite start is reported below, not as NumPy warnings
        start_loss = net.loss(params, train.X[:n], train.y[:n])
    if not np.isfinite(start_loss):
        start = argparse.Namespace(init_sigma=args.init_sigma, init_mu=args.init_mu, weight_decay=0.0)
        raise UserError(f"cannot check the gradient: {start_cause(start)}")
    report = gradcheck(net, params, train.X[:n], train.y[:n], eps=args.eps, max_entries=args.max_entries,
                       seed=args.seed, threshold=args.threshold)
    table = Table(title=f"Analytic vs. finite-difference gradient (loss {report.loss:.6g})")
    for column in ("tensor", "shape", "judged", "max abs. error", "max rel. error", "worst entry", "analytic",
                   "numeric"):
        table.add_column(column, justify="left" if column == "tensor" else "right")
    for t in report.tensors:
        colour = "green" if t.max_rel_error < report.threshold else "red"
        table.add_row(t.name, "×".join(map(str, t.shape)), f"{t.checked} of {t.checked + t.unjudged}",
                      f"{t.max_abs_error:.2e}",
                      f"[{colour}]{t.max_rel_error:.2e}[/{colour}]", str(list(t.worst_index)),
                      f"{t.analytic_at_worst:.10e}", f"{t.numeric_at_worst:.10e}")
    out.print(table)
    if report.kink_rechecked:
        out.print(f"{report.kink_rechecked} entries' finite-difference stencils crossed a kink of "
                  f"{net.activation.name} (a pre-activation changed sign within the stencil): checked with a step "
                  "small enough not to cross it.")
    say(out, (report.verdict, "green" if report.ok else "red"), f": {_verdict_text(report, net.activation.name)}")
    return 0 if report.ok else 1


def _verdict_text(report: Any, activation: str) -> str:
    """Why the check passed or not, and for a FAIL or INCOMPLETE what to try."""
    worst = max(report.tensors, key=lambda t: t.max_rel_error)
    errors = f"max relative error {report.max_rel_error:.2e} (threshold {report.threshold:.0e})"
    if report.verdict == "FAIL":
        return (f"{errors} at {worst.name}{list(worst.worst_index)}: analytic {worst.analytic_at_worst:.6g}, "
                f"numeric {worst.numeric_at_worst:.6g}. The finite differences agreed with each other across "
                f"steps, so the analytic gradient of {worst.name} is off: look at its formula (a sign, a factor "
                "1/S, a mask, a transpose). To tell a bug from a scale effect, try --samples 1, a smaller "
                "--init-sigma or --standardize; --max-entries N checks fewer entries faster.")
    if report.verdict == "INCOMPLETE":
        reasons = []
        if report.kink_skipped:
            reasons.append(f"{report.kink_skipped} lie within the smallest step of a kink of {activation}, where the "
                           "loss has no derivative (try another --seed, or features that are not whole numbers)")
        if report.unsettled:
            reasons.append(f"{report.unsettled} have difference quotients that never agreed across the steps tried "
                           "(try --standardize, a smaller --init-sigma, or another --eps)")
        where = ", ".join(f"{t.unjudged} of {t.name}" for t in report.tensors if t.unjudged)
        return (f"{errors} over the entries judged, but {sum(t.unjudged for t in report.tensors)} entries were not "
                f"judged ({where}): {'; '.join(reasons)}. A check that did not judge every entry is not a pass.")
    return f"{errors}."
