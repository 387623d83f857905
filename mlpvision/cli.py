"""The ``mlpvision`` command: one entry point, one subcommand per job.

Errors a user can fix (a bad value, a missing file, a checkpoint that does not fit) are printed as one line and
exit with status 2; anything else is a bug and keeps its traceback.
"""

import argparse
import dataclasses
import json
import re
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
    """List the registered models with parameters and GMACs counted from the code, or (--weights) every released
    weight with its source, file, licence, preprocessing and reported top-1."""
    from .catalog import markdown_table, model_rows, weight_rows, weights_markdown

    rows = weight_rows(args.pattern) if args.weights else model_rows(args.pattern)
    if not rows:
        what = "released weight" if args.weights else "mlpvision model"
        raise UsageError(f"no {what} matches {args.pattern!r}; try `mlpvision models{' --weights' * args.weights}`")
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
        return
    if args.markdown:
        print((weights_markdown if args.weights else markdown_table)(rows), end="")
        return
    if args.weights:
        table = Table(title=f"mlpvision weights ({len(rows)}); top-1: ImageNet-1k as the source reports it "
                            "(timm's own measurement beside it)")
        for column, justify in (("weight", "left"), ("source", "left"), ("file", "left"), ("licence", "left"),
                                ("preprocessing", "left"), ("top-1", "right"), ("timm", "right")):
            table.add_column(column, justify=justify, overflow="fold")
        for row in rows:
            table.add_row(row.tag, row.source, row.file, row.license, row.preprocessing,
                          "–" if row.top1 is None else f"{row.top1}",
                          "–" if row.top1_timm is None else f"{row.top1_timm}")
        _console().print(table)
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
    parser.add_argument("--weights", action="store_true",
                        help="list the released weights: tag, source, file, licence, preprocessing, reported top-1")
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


class _KeyValues(argparse.Action):
    """``--model-kwargs KEY=VALUE ...`` (timm's form) into a dict; a ``--config`` file gives the mapping itself."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        try:
            setattr(namespace, self.dest, _key_values(values))
        except UsageError as error:
            raise argparse.ArgumentError(self, str(error)) from None


class _Values(argparse.Action):
    """Several values after one flag (``--scale 0.5 1``, ``--img-size 32 48``): a tuple, or the value when one
    is given and the field also takes a single value. Converted here rather than by ``type`` so that a
    ``--config`` file's value (a number or a list) passes through to ``TrainConfig.validate`` unchanged."""

    def __init__(self, *args: Any, convert: Callable[[str], Any], single: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.convert = convert
        self.single = single

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        try:
            items = tuple(self.convert(value) for value in values)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentError(self, str(error)) from None
        setattr(namespace, self.dest, items[0] if self.single and len(items) == 1 else items)


class _BadValue(argparse.ArgumentTypeError, ValueError):
    """A flag value of the wrong type: argparse prints its text, and jsonargparse (a ``--config`` value) too."""


class _Converter:
    """``str → kind`` for one flag value (``none`` → ``None`` where the field is optional); typed values from a
    ``--config`` file pass as they are, to be checked by ``TrainConfig.validate``."""

    NAMES = {int: "an integer", float: "a number", str: "a string"}

    def __init__(self, kind: type, optional: bool) -> None:
        self.kind = kind
        self.optional = optional
        self.__name__ = kind.__name__

    def __call__(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        if self.optional and text.lower() in ("none", "null"):
            return None
        try:
            return self.kind(text)
        except ValueError:
            expected = self.NAMES.get(self.kind, self.kind.__name__) + (" or none" if self.optional else "")
            raise _BadValue(f"expected {expected}, got {text!r}") from None

    def __repr__(self) -> str:
        return self.kind.__name__ + (" | none" if self.optional else "")


def _flag_options(hint: Any) -> dict[str, Any]:
    """``add_argument`` keywords for a ``TrainConfig`` field of type ``hint``: new fields need no CLI edit."""
    import types
    import typing

    from jsonargparse import ActionYesNo

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    members = args if origin in (typing.Union, types.UnionType) else (hint,)
    optional = type(None) in members
    members = tuple(member for member in members if member is not type(None))
    tuples = [member for member in members if typing.get_origin(member) is tuple]
    scalars = [member for member in members if member in (int, float, str)]
    if members == (bool,):
        return {"action": ActionYesNo(no_prefix="no-")}
    if len(members) == 1 and typing.get_origin(members[0]) is dict:
        return {"action": _KeyValues, "nargs": "+", "metavar": "KEY=VALUE"}
    if len(tuples) == 1 and all(arg == typing.get_args(tuples[0])[0] for arg in typing.get_args(tuples[0])):
        element = typing.get_args(tuples[0])[0]
        single = element in scalars
        return {"action": _Values, "convert": _Converter(element, False), "single": single,
                "nargs": "+" if single else len(typing.get_args(tuples[0]))}
    if len(members) == 1 and scalars:
        return {"type": _Converter(scalars[0], optional)}
    return {"type": hint}  # any other form: jsonargparse's own type-hint parsing


def train_parser() -> Any:
    """``mlpvision train``'s flags, one per ``TrainConfig`` field, by jsonargparse; ``--config FILE.yaml`` too."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    from .train.config import TrainConfig, _hints, flag

    parser = ArgumentParser(
        prog="mlpvision train", exit_on_error=False,
        description="Train a model; every flag that is not given comes from the recipe, then from the defaults.",
    )
    parser.add_argument("--config", action=ActionConfigFile,
                        help="a YAML file of settings, keys as in a run's config.yaml; flags after it win")
    hints = _hints()
    for config_field in dataclasses.fields(TrainConfig):
        default = (config_field.default_factory() if config_field.default is dataclasses.MISSING
                   else config_field.default)  # shown in --help; parse_args(defaults=False) leaves it out
        parser.add_argument(flag(config_field.name), dest=config_field.name, default=default,
                            help=config_field.metadata.get("help", ""), **_flag_options(hints[config_field.name]))
    return parser


def train_command(args: argparse.Namespace) -> None:
    """Train a model; every flag that was not given comes from the recipe."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from .train import resolve_config, train
    from .train.checkpoint import CheckpointWriteError

    try:
        overrides = train_parser().parse_args(args.argv, defaults=False).as_dict()
    except argparse.ArgumentError as error:
        message = " ".join(line.strip() for line in str(error).splitlines())
        message = re.sub(r'Parser key "(\w+)":', lambda key: f"--{key.group(1).replace('_', '-')}:", message)
        if message.startswith("unrecognized arguments") and {"true", "false", "yes", "no"} & set(args.argv):
            message += " (a boolean flag takes no value: --model-ema or --no-model-ema)"
        raise UsageError(message) from None
    overrides.pop("config", None)
    try:
        train(resolve_config(overrides))
    except (CheckpointWriteError, MisconfigurationException) as error:
        raise UsageError(str(error).splitlines()[0]) from None


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    # listed here for `mlpvision --help`; main() hands everything after `train` to train_parser()
    subparsers.add_parser(
        "train", add_help=False,
        help="train a model (default: a small Mixer on the embedded 8x8 digits, about a minute on 2 cores)",
    )


def recipes_command(args: argparse.Namespace) -> None:
    """List the recipes ``--recipe`` accepts: a table, or JSON with every value and its source."""
    from .train.recipes import RECIPES, SOURCES, recipe_rows

    rows = recipe_rows()
    if args.json:
        print(json.dumps([{**row, "settings": RECIPES[row["recipe"]], "sources": SOURCES[row["recipe"]]}
                          for row in rows], indent=2, default=list))
        return
    table = Table(title=f"mlpvision recipes ({len(rows)}): `mlpvision train --recipe NAME`; "
                        "`mlpvision recipes --json` gives each value's source")
    for column in rows[0]:
        table.add_column(column, overflow="fold", no_wrap=column in ("recipe", "epochs"))
    for row in rows:
        table.add_row(*row.values())
    _console().print(table)


def _add_recipes(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("recipes", help="the published training recipes --recipe accepts, with sources")
    parser.add_argument("--json", action="store_true", help="print JSON: every value with its source")
    parser.set_defaults(handler=recipes_command)


def evaluate_command(args: argparse.Namespace) -> None:
    """Evaluate a checkpoint or model; print the per-class table (or JSON with --json -)."""
    from .evaluate import evaluate, print_evaluation

    result = evaluate(
        args.data, checkpoint=args.checkpoint, model_name=args.model, img_size=args.img_size,
        batch_size=args.batch_size, out=args.out, json_path=None if args.json in (None, "-") else args.json,
        val_split=args.val_split, seed=args.seed,
    )
    if args.json == "-":
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print_evaluation(result)


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="top-1/top-5, per-class accuracy and a confusion matrix")
    parser.add_argument("--checkpoint", help="a run folder or a .safetensors file written by `mlpvision train`")
    parser.add_argument("--model", help="a model name (weights from --checkpoint, else as created)")
    parser.add_argument("--data", help="same forms as for `mlpvision train` (default: the run's data, else digits)")
    parser.add_argument("--img-size", type=int, nargs="+", metavar=("H", "W"),
                        help="input side, or height and width (default: the checkpoint's)")
    parser.add_argument("--val-split", type=float,
                        help="hold-out fraction for data without val/ (default: the run's config.yaml, else 0.1)")
    parser.add_argument("--seed", type=int, help="seed of that hold-out (default: the run's config.yaml, else 42)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", help="folder for evaluation.json, confusion.png and predictions.csv "
                                      "(default: RUN/eval or ./eval)")
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
    parser.add_argument("--img-size", type=int, nargs="+", metavar=("H", "W"),
                        help="input side, or height and width (default: the checkpoint's or the model's)")
    parser.add_argument("--model-kwargs", nargs="+", metavar="KEY=VALUE", help="keyword arguments for the model")
    parser.add_argument("-o", "--output", required=True, help="the .onnx or .pt2 file to write")
    parser.set_defaults(handler=export_command)


def convert_command(args: argparse.Namespace) -> None:
    from .convert import convert, read_class_map

    classes = read_class_map(args.class_map) if args.class_map else None
    info = convert(args.src, args.model, args.output, img_size=args.img_size,
                   model_kwargs=_key_values(args.model_kwargs or []), classes=classes)
    named = "named" if "classes" in info else "unnamed (give --class-map FILE to name them)"
    print(f"converted {info['source_file']} (sha256 {info['source_sha256'][:12]}…) into {info['architecture']} at "
          f"{info['img_size']}, {info['num_classes']} classes, {named}: {info['out']} (forward check: finite logits)")


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="timm / authors' / our checkpoints → mlpvision safetensors")
    parser.add_argument("src", help="the checkpoint: .pth, .npz or .safetensors")
    parser.add_argument("--model", help="the mlpvision model it holds, e.g. mlpv_mixer_b16 (default: the one an "
                                         "mlpvision .safetensors names)")
    parser.add_argument("--img-size", type=int, nargs="+", metavar=("H", "W"),
                        help="resample for this input side, or height and width")
    parser.add_argument("--class-map", metavar="FILE",
                        help="class names, one a line in the classifier's order (default: the source's, if named)")
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
    _console().print(table)


def _add_analyze(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="token-mixing weight plots; robustness to shuffles and shifts")
    parser.add_argument("what", choices=("weights", "robustness"))
    parser.add_argument("--checkpoint", help="a run folder or weights file")
    parser.add_argument("--model", help="model name (optional with an mlpvision checkpoint)")
    parser.add_argument("--data", help="robustness: the dataset, as for `mlpvision train` (default: the run's data, "
                                        "else digits); its held-out images, as `evaluate` chooses them")
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
        if not any(Path(args.results_dir).glob("*.csv")):
            raise UsageError(f"--results-dir {args.results_dir}: no results (*.csv) to write {args.docs} from")
        if Path(args.docs).is_dir():
            raise UsageError(f"--docs {args.docs}: a folder; name the markdown file to write")
        report.write_docs(Path(args.results_dir), Path(args.docs))
        print(f"wrote {args.docs} from {args.results_dir}/*.csv")
        return
    args.models += args.model
    if args.data and not args.models:
        raise UsageError("--data needs the model to train on it: --model NAME")
    if not (args.models or args.peak or args.sweep == "tokens"):
        raise UsageError("name at least one model (or use --peak, --sweep tokens or --docs)")
    for flag, path in (("--json", args.json), ("--csv", args.csv)):
        if path and Path(path).is_dir():  # found out before the measurements, not after
            raise UsageError(f"{flag} {path}: a folder; name the file to write")
    batch_size = args.batch_size if args.batch_size is not None or args.data else 32
    run = run_bench(
        args.models, batch_size=batch_size, img_size=args.img_size, device=args.device,
        precision=args.precision, compile_model=args.compile, channels_last=args.channels_last, reparam=args.reparam,
        mode=args.mode,
        repeats=args.repeats, threads=args.threads, compare=args.compare, sweep=args.sweep, peak=args.peak,
        peak_size=args.peak_size, data=args.data, recipe=args.recipe, workers=args.workers, batches=args.batches,
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
    parser.add_argument("--model", action="append", default=[], help="a model name (as the positional names)")
    parser.add_argument("--batch-size", type=int, help="default 32; with --data: the recipe's")
    parser.add_argument("--data", help="time the training loader on this data (as for `mlpvision train`) beside the "
                                       "model's training step: which one bounds the run")
    parser.add_argument("--recipe", help="with --data: the training recipe whose augmentation, batch and size to use")
    parser.add_argument("--workers", type=int, help="with --data: loader processes (default: the recipe's)")
    parser.add_argument("--batches", type=int, default=20, help="with --data: batches timed")
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


def _add_sweep(subparsers: argparse._SubParsersAction) -> None:
    from .sweep import add_arguments, sweep_command

    parser = subparsers.add_parser("sweep", help="a grid of runs (models x settings x seeds): resumable, mean ± std")
    add_arguments(parser)
    parser.set_defaults(handler=sweep_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlpvision", description="MLP vision backbones: list, train, evaluate.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_models(subparsers)
    _add_train(subparsers)
    _add_recipes(subparsers)
    _add_evaluate(subparsers)
    _add_export(subparsers)
    _add_convert(subparsers)
    _add_analyze(subparsers)
    _add_bench(subparsers)
    _add_sweep(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv and len(sys.argv) == 1:
        argv = ["train"]
    if argv[:1] == ["train"]:
        args = argparse.Namespace(command="train", handler=train_command, argv=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.handler
    try:
        status = handler(args)  # None, or an exit status (`sweep`: 1 when a grid point failed)
    except (UsageError, *USER_ERRORS) as error:
        print(f"mlpvision {args.command}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(stop, SIGTERMException):
            return 128 + signal.SIGTERM
        raise
    return status or 0
