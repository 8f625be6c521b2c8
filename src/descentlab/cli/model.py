"""``descentlab predict``, ``info`` and ``export``: what a saved model file does and holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import UserError, network_line, reading_progress, say

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ..data.dataset import Features


def run_predict(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..data.dataset import load_features
    from ..formats.atomic import atomic_write_text
    from ..formats.model_io import load_model
    from ..formats.predict import finite_probabilities, predictions_csv

    metrics = None if args.out is None or args.target is None else Path(f"{args.out}.metrics.json")
    _check_outputs(args, metrics)
    net, params, meta = load_model(args.model)
    stored = meta.get("feature_names")
    classes = meta.get("class_names") or [str(c) for c in range(net.sizes[-1])]
    with reading_progress(False) as progress:
        read = load_features(args.data, stored or net.sizes[0], progress=progress, target=args.target)
    if not stored:
        say(err, ("note:", "cyan"), f" {args.model} stores no feature names: its {net.sizes[0]} inputs are the "
                                    f"columns {', '.join(read.names)} of {args.data}, in this order")
    proba = finite_probabilities(net, params, read.X, meta.get("standardization"), (args.data, read.lines, read.names))
    text, rows = predictions_csv(proba, classes)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        say(err, f"Wrote {rows} predictions to {args.out}")
    if args.target is not None:
        _score(args, read, proba.argmax(axis=1), classes, metrics, out if args.out is not None else err)
    return 0


def _check_outputs(args: argparse.Namespace, metrics: Path | None) -> None:
    from .outputs import check_file_output

    for path in (args.out, metrics):
        if path is not None:
            check_file_output(path, "--out", {"--model": args.model, "--data": args.data})


def _score(args: argparse.Namespace, read: Features, predicted: np.ndarray, classes: list[str],
           metrics: Path | None, console: Console) -> None:
    """Accuracy, per-class precision and recall and the confusion matrix of the predictions against the
    ``--target`` column: printed (on stderr when the predictions went to standard output) and, with ``--out``,
    written to ``OUT.metrics.json``."""
    import json

    import numpy as np

    from ..formats.atomic import atomic_write_text
    from ..formats.predict import scores

    assert read.classes is not None and read.y is not None  # read with --target
    unknown = [name for name in read.classes if name not in classes]
    if unknown:
        raise UserError(f"{args.data}: column {args.target!r} holds class(es) {', '.join(map(repr, unknown))} that "
                        f"{args.model} does not know (its classes: {', '.join(classes)})")
    truth = np.array([classes.index(name) for name in read.classes], dtype=np.int64)[read.y]
    result = scores(truth, predicted, classes)
    console.print(_scores_table(result))
    if metrics is not None:
        atomic_write_text(metrics, json.dumps(result, indent=2) + "\n")
        say(console, f"Wrote the scores to {metrics}")


def _scores_table(result: dict[str, Any]) -> Table:
    from rich.table import Table

    from .common import escape

    classes = result["classes"]
    table = Table(title=f"Accuracy {100 * result['accuracy']:.1f} % on {result['rows']} rows; confusion matrix: "
                        "rows true, columns predicted")
    for column in ("class", "precision %", "recall %", "rows", *classes):
        table.add_column(escape(column), justify="left" if column == "class" else "right")
    for name, row in zip(classes, result["confusion_matrix"], strict=True):
        m = result["per_class"][name]
        shown = ["–" if m[k] is None else f"{100 * m[k]:.1f}" for k in ("precision", "recall")]
        table.add_row(escape(name), *shown, str(m["support"]), *map(str, row))
    return table


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def run_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..formats.model_io import export_onnx, load_model
    from .outputs import check_file_output

    check_file_output(args.onnx, "--onnx", {"--model": args.model})
    net, params, meta = load_model(args.model)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install onnx onnxruntime (in a clone of "
                        "descentlab: pip install -e '.[onnx]')") from None
    from ..formats.onnx_check import ExportMismatch

    verify = _onnxruntime_available()
    if not verify:
        say(err, ("warning:", "bold yellow"), " onnxruntime is not installed, so this export is UNVERIFIED: nothing "
                 "checked that the float32 graph computes what the model computes (pip install onnxruntime)")
    try:
        export_onnx(net, params, args.onnx, class_names=meta.get("class_names"),
                    feature_names=meta.get("feature_names"), standardization=meta.get("standardization"), verify=verify)
    except ExportMismatch as error:
        raise UserError(f"{args.onnx} not written: {error}") from None
    out.print(network_line(net))
    folded = " (standardisation folded into the first layer)" if meta.get("standardization") else ""
    say(out, f"Wrote {args.onnx}: input 'input' (batch × {net.sizes[0]}) → outputs 'probabilities' "
             f"(batch × {net.sizes[-1]}) and 'label'{folded}")
    return 0


def _with_suffix(model: Path) -> Path:
    """``runs/x/models/adagrad:lr=0.1`` (the spec, as compare names it) is ``…/adagrad:lr=0.1.safetensors``."""
    from ..formats.model_io import MODEL_SUFFIX

    given = Path(f"{model}{MODEL_SUFFIX}")
    return given if not model.exists() and given.is_file() else model


def run_info(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.table import Table

    from ..formats.model_io import file_layout, load_model

    args.model = _with_suffix(args.model)
    net, params, meta = load_model(args.model)
    say(out, f"Model {args.model} (format {meta['format_version']}, descentlab "
             f"{meta.get('descentlab_version')})")
    out.print(network_line(net))
    table = Table(title="Parameter tensors")
    table.add_column("tensor")
    table.add_column("shape", justify="right")
    table.add_column("entries", justify="right")
    table.add_column("in the file")
    in_file = {slot: (key, shape) for key, (slot, shape) in file_layout(net, meta["format_version"]).items()}
    for name, shape, size in net.describe():
        key, file_shape = in_file[name]
        table.add_row(name, "×".join(map(str, shape)), str(size), f"{key} ({'×'.join(map(str, file_shape))})")
    table.add_row("[bold]total[/bold]", "", f"[bold]{net.n_params}[/bold]", "")
    out.print(table)
    if meta.get("feature_names"):
        say(out, f"Features: {', '.join(meta['feature_names'])}")
    if meta.get("class_names"):
        say(out, f"Classes: {', '.join(meta['class_names'])}")
    out.print(f"Standardisation: {'yes' if meta.get('standardization') else 'no'}")
    for section in ("training", "metrics"):
        if meta.get(section):
            say(out, f"{section.capitalize()}: " + ", ".join(f"{k}={v}" for k, v in meta[section].items()))
    return 0
