"""The ``mlpvision`` command: one entry point, one subcommand per job.

Errors a user can fix (a bad value, a missing file, a checkpoint that does not fit) are printed as one line and
exit with status 2; anything else is a bug and keeps its traceback.
"""

import argparse
import dataclasses
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from .models import CheckpointMismatchError

USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, CheckpointMismatchError)


class UsageError(Exception):
    """A problem with the command line; printed as one line, exit status 2."""


def _console() -> Console:
    """rich's console; written to a pipe or a file, as wide as the table (rich would cut it to 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(width=10_000)


def models_command(args: argparse.Namespace) -> None:
    """List the registered models with parameters and GMACs counted from the code."""
    from .catalog import markdown_table, model_rows

    rows = model_rows(args.pattern)
    if not rows:
        raise UsageError(f"no mlpvision model matches {args.pattern!r}; try `mlpvision models` for the full list")
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
        return
    if args.markdown:
        print(markdown_table(rows), end="")
        return
    table = Table(title=f"mlpvision models ({len(rows)}); GMACs: fvcore convention, counted on the meta device")
    for column, justify in (("name", "left"), ("family", "left"), ("paper", "left"), ("params", "right"),
                            ("GMACs", "right"), ("img", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    table.add_column("count source", overflow="fold")
    for row in rows:
        table.add_row(row.name, row.family, row.paper, f"{row.params:,}", f"{row.gmacs:.3f}", str(row.img_size),
                      row.count_source)
    _console().print(table)


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the models (name, paper, params, GMACs, img size)")
    parser.add_argument("pattern", nargs="?", default="mlpv_*",
                        help="wildcard filter, e.g. 'mlpv_res*', or a word the names contain, e.g. 'vip'")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--markdown", action="store_true", help="print the README's markdown table")
    parser.set_defaults(handler=models_command)


def _parse_value(text: str) -> Any:
    """``key=value`` values: YAML scalars (``4`` → int, ``0.5`` → float, ``true`` → bool), else the string."""
    value = yaml.safe_load(text)
    return value if isinstance(value, int | float | bool | str) or value is None else text


def _key_values(items: list[str]) -> dict[str, Any]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {item!r}")
        pairs[key.replace("-", "_")] = _parse_value(value)
    return pairs


def train_command(args: argparse.Namespace) -> None:
    """Train a model; every flag that was not given comes from the recipe."""
    from .train import resolve_config, train

    overrides = {key: value for key, value in vars(args).items() if key not in ("command", "handler")}
    if "model_kwargs" in overrides:
        overrides["model_kwargs"] = _key_values(overrides["model_kwargs"])
    for pair in ("scale", "ratio"):
        if pair in overrides:
            overrides[pair] = tuple(overrides[pair])
    if overrides.get("aa") in ("none", "None", ""):
        overrides["aa"] = None
    train(resolve_config(overrides))


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    from .train.config import TrainConfig

    parser = subparsers.add_parser(
        "train", help="train a model (default: a small Mixer on the embedded 8x8 digits, about a minute on 2 cores)",
        argument_default=argparse.SUPPRESS,
    )
    for config_field in dataclasses.fields(TrainConfig):
        flag = "--" + config_field.name.replace("_", "-")
        help_text = config_field.metadata.get("help", "")
        kind = str(config_field.type)
        if config_field.name == "model_kwargs":
            parser.add_argument(flag, nargs="+", metavar="KEY=VALUE", help=help_text)
        elif config_field.name in ("scale", "ratio"):
            parser.add_argument(flag, nargs=2, type=float, metavar=("MIN", "MAX"), help=help_text)
        elif kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            value_type = int if "int" in kind else float if "float" in kind else str
            parser.add_argument(flag, type=value_type, help=help_text)
    parser.set_defaults(handler=train_command)


def evaluate_command(args: argparse.Namespace) -> None:
    """Evaluate a checkpoint or model; print the per-class table (or JSON with --json -)."""
    from .evaluate import evaluate, print_evaluation

    result = evaluate(
        args.data, checkpoint=args.checkpoint, model_name=args.model, img_size=args.img_size,
        batch_size=args.batch_size, out=args.out, json_path=None if args.json in (None, "-") else args.json,
    )
    if args.json == "-":
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print_evaluation(result)


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="top-1/top-5, per-class accuracy and a confusion matrix")
    parser.add_argument("--checkpoint", help="a run folder or a .safetensors file written by `mlpvision train`")
    parser.add_argument("--model", help="a model name (weights from --checkpoint, else as created)")
    parser.add_argument("--data", default="digits", help="same forms as for `mlpvision train`")
    parser.add_argument("--img-size", type=int, help="input side (default: the checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", help="folder for evaluation.json and confusion.png (default: RUN/eval or ./eval)")
    parser.add_argument("--json", nargs="?", const="-", help="write the results as JSON to this file ('-': stdout)")
    parser.set_defaults(handler=evaluate_command)


def export_command(args: argparse.Namespace) -> None:
    from .export import export

    report = export(
        args.model, args.output, fmt=args.format, checkpoint=args.checkpoint, opset=args.opset,
        dynamic_batch=args.dynamic_batch, img_size=args.img_size, model_kwargs=_key_values(args.model_kwargs or []),
    )
    untrained = " (all logits are 0: an untrained zero head proves nothing; give --checkpoint)"
    note = "" if report.max_abs_logit > 0 else untrained
    print(f"exported {report.model} to {report.path} ({report.format}); parity on a real image, batch "
          f"{'/'.join(map(str, report.batch_sizes_checked))}: max |Δlogits| = {report.max_abs_diff:.3g} "
          f"(max |logit| {report.max_abs_logit:.3g}){note}")


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="ONNX or torch.export, with parity measured against PyTorch")
    parser.add_argument("model", nargs="?", help="model name (optional with an mlpvision --checkpoint)")
    parser.add_argument("--checkpoint", help="weights: a run folder, our .safetensors, or any supported layout")
    parser.add_argument("--format", default="onnx", choices=("onnx", "torch-export"))
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset")
    parser.add_argument("--dynamic-batch", action="store_true", help="a batch axis of any size")
    parser.add_argument("--img-size", type=int, help="input side (default: the checkpoint's or the model's)")
    parser.add_argument("--model-kwargs", nargs="+", metavar="KEY=VALUE", help="keyword arguments for the model")
    parser.add_argument("-o", "--output", required=True, help="the .onnx or .pt2 file to write")
    parser.set_defaults(handler=export_command)


def convert_command(args: argparse.Namespace) -> None:
    from .convert import convert

    info = convert(args.src, args.model, args.output, img_size=tuple(args.img_size) if args.img_size else None,
                   model_kwargs=_key_values(args.model_kwargs or []))
    print(f"converted {info['source_file']} (sha256 {info['source_sha256'][:12]}…) into {info['architecture']} at "
          f"{info['img_size']}, {info['num_classes']} classes: {info['out']} (forward check: finite logits)")


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="timm / authors' / our checkpoints → mlpvision safetensors")
    parser.add_argument("src", help="the checkpoint: .pth, .npz or .safetensors")
    parser.add_argument("--model", required=True, help="the mlpvision model it holds, e.g. mlpv_mixer_b16")
    parser.add_argument("--img-size", type=int, nargs=2, metavar=("H", "W"), help="resample for this input size")
    parser.add_argument("--model-kwargs", nargs="+", metavar="KEY=VALUE", help="keyword arguments for the model")
    parser.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    parser.set_defaults(handler=convert_command)


def analyze_command(args: argparse.Namespace) -> None:
    from pathlib import Path

    from . import analyze

    out = Path(args.out)
    if args.what == "weights":
        panels, png = analyze.weights_report(args.checkpoint, args.model, out, args.block, args.max_filters)
        print(f"{panels} token-mixing filters of block {args.block}: {png}")
        return
    name, images, results = analyze.robustness_report(args.checkpoint, args.model, args.data, out)
    table = Table(title=f"{name}: top-1 under input corruptions ({images} images)")
    for column in ("condition", "top-1 %", "change"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for result in results:
        table.add_row(result.name, f"{result.top1:.2f}", f"{result.change:+.2f}")
    Console().print(table)


def _add_analyze(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="token-mixing weight plots; robustness to shuffles and shifts")
    parser.add_argument("what", choices=("weights", "robustness"))
    parser.add_argument("--checkpoint", help="a run folder or weights file")
    parser.add_argument("--model", help="model name (optional with an mlpvision checkpoint)")
    parser.add_argument("--data", default="digits", help="robustness: the dataset (as for `mlpvision train`)")
    parser.add_argument("--block", type=int, default=0, help="weights: which block's token mixer")
    parser.add_argument("--max-filters", type=int, default=64, help="weights: at most this many panels")
    parser.add_argument("--out", default="analysis", help="folder for the PNG and JSON files")
    parser.set_defaults(handler=analyze_command)


def bench_command(args: argparse.Namespace) -> None:
    """Throughput, memory and GMACs; side-by-side ratios; sweeps; the matmul ceiling; the docs page."""
    from pathlib import Path

    from .bench import report
    from .bench.run import COLUMNS, run_bench

    if args.docs:
        report.write_docs(Path(args.results_dir), Path(args.docs))
        print(f"wrote {args.docs} from {args.results_dir}/*.csv")
        return
    if not (args.models or args.peak or args.sweep == "tokens"):
        raise UsageError("name at least one model (or use --peak, --sweep tokens or --docs)")
    run = run_bench(
        args.models, batch_size=args.batch_size, img_size=args.img_size, device=args.device,
        precision=args.precision, compile_model=args.compile, channels_last=args.channels_last, reparam=args.reparam,
        mode=args.mode,
        repeats=args.repeats, threads=args.threads, compare=args.compare, sweep=args.sweep, peak=args.peak,
        peak_size=args.peak_size,
    )
    if args.save:
        print(f"saved {run.save(Path(args.results_dir))}")
    report.write_rows(run.rows, csv_path=Path(args.csv) if args.csv else None,
                      json_path=Path(args.json) if args.json else None)
    context = run.rows[0]
    table = Table(title=f"{run.title} — {context['machine']}, torch {context['torch']}")
    shown = COLUMNS[run.kind]
    for column in shown:
        table.add_column(column, justify="left" if column in ("model", "reference", "mode", "impl") else "right")
    for row in run.rows:
        table.add_row(*(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in shown))
    _console().print(table)


def _add_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="speed, memory and cost curves, side by side with timm")
    parser.add_argument("models", nargs="*", help="mlpvision or timm model names")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--img-size", type=int,
                        help="input side (default: each model's own; 224 for --compare and --sweep batch)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--compile", action="store_true", help="torch.compile each model first")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--reparam", action="store_true",
                        help="time inference in the re-parameterised form (timm's reparameterize_model: RepMLPNet)")
    parser.add_argument("--mode", default="infer", choices=("infer", "train", "both"))
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--compare", choices=("timm", "dense"), help="time against the timm twin / the dense CCS")
    parser.add_argument("--sweep", choices=("img-size", "batch", "tokens"), help="a cost curve (CSV + PNG)")
    parser.add_argument("--peak", action="store_true", help="this machine's dense matmul peak, fp32 and bf16")
    parser.add_argument("--peak-size", type=int, default=2048, help="matrix side for --peak")
    parser.add_argument("--json", help="write the rows as JSON")
    parser.add_argument("--csv", help="write the rows as CSV")
    parser.add_argument("--save", action="store_true", help="also write results/<conditions>-<machine>.csv (+ PNG)")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--docs", metavar="PATH", help="generate PATH (docs/benchmarks.md) from the results folder")
    parser.set_defaults(handler=bench_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlpvision", description="MLP vision backbones: list, train, evaluate.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_models(subparsers)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_export(subparsers)
    _add_convert(subparsers)
    _add_analyze(subparsers)
    _add_bench(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(["train"] if argv is None and len(sys.argv) == 1 else argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        handler(args)
    except (UsageError, *USER_ERRORS) as error:
        print(f"mlpvision {args.command}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(stop, SIGTERMException):
            return 128 + signal.SIGTERM
        raise
    return 0
