"""Training configuration: one dataclass with commented defaults, and the one place where every setting is
checked; the named recipes that preset it are in recipes.py.

Precedence: a flag given on the command line > the recipe > the dataclass default. Flag names follow timm's
``train.py`` where it has a flag for the same thing (``--model``, ``--epochs``, ``--batch-size``, ``--lr``, ...).
"""

import dataclasses
import difflib
import functools
import inspect
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..models import check_model_name
from .recipes import RECIPES


@dataclass
class TrainConfig:
    # ---- what to train on what
    model: str = field(default="mlpv_mixer_s16", metadata={"help": "any mlpvision or timm model name"})
    model_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "keyword arguments for the model, e.g. depth=4 embed_dim=64"})
    data: str = field(default="digits", metadata={
        "help": "'digits' (embedded), an image-folder PATH, 'cifar10:PATH' or 'cifar100:PATH' (torchvision layout)"})
    recipe: str | None = field(default=None, metadata={
        "help": "a preset from `mlpvision recipes` (default: 'digits' for --data digits, else 'deit')"})
    out: str | None = field(default=None, metadata={"help": "output folder (default runs/<date-time>)"})
    img_size: int | tuple[int, int] | None = field(default=None, metadata={
        "help": "input side, or height and width (default: the model's)"})
    val_split: float = field(default=0.1, metadata={"help": "fraction of train held out when there is no val/"})
    bad_images: str = field(default="skip", metadata={"help": "corrupt image files: 'skip' (reported) or 'error'"})
    workers: int = field(default=2, metadata={"help": "data-loading processes per device"})
    # ---- schedule and optimiser (DeiT: AdamW, lr 5e-4 per 512 images, cosine, 5 warm-up epochs)
    epochs: int = field(default=300, metadata={"help": "training epochs"})
    batch_size: int = field(default=128, metadata={"help": "images per device per step"})
    lr: float | None = field(default=None, metadata={"help": "learning rate (default: lr_base scaled by batch)"})
    lr_base: float = field(default=5e-4, metadata={"help": "learning rate per lr_base_size images of global batch"})
    lr_base_size: int = field(default=512, metadata={"help": "global batch at which lr_base applies (linear rule)"})
    opt: str = field(default="adamw", metadata={"help": "timm optimiser name"})
    opt_eps: float | None = field(default=None, metadata={"help": "optimiser epsilon (default: the optimiser's)"})
    weight_decay: float = field(default=0.05, metadata={"help": "decay, not applied to norms/biases/Affine/LayerScale"})
    sched: str = field(default="cosine", metadata={"help": "timm scheduler name"})
    warmup_epochs: int = field(default=5, metadata={"help": "linear warm-up epochs"})
    warmup_steps: int | None = field(default=None, metadata={
        "help": "linear warm-up in optimiser updates, instead of --warmup-epochs (Mixer, gMLP: 10000)"})
    warmup_prefix: bool = field(default=False, metadata={
        "help": "decay over the epochs after the warm-up (Mixer), not over the whole run with the warm-up on top"})
    decay_rate: float = field(default=0.1, metadata={
        "help": "lr decay factor (step, multistep); the power for 'poly' (1: linear decay, as Mixer)"})
    warmup_lr: float = field(default=1e-6, metadata={"help": "learning rate at the start of warm-up"})
    min_lr: float = field(default=1e-5, metadata={"help": "learning rate at the end of the schedule"})
    clip_grad: float | None = field(default=None, metadata={"help": "clip the global gradient norm to this"})
    grad_accum_steps: int = field(default=1, metadata={"help": "batches per optimiser step"})
    # ---- regularisation and augmentation
    smoothing: float = field(default=0.1, metadata={"help": "label smoothing"})
    mixup: float = field(default=0.8, metadata={"help": "mixup alpha (0: off)"})
    cutmix: float = field(default=1.0, metadata={"help": "cutmix alpha (0: off)"})
    aa: str | None = field(default="rand-m9-mstd0.5-inc1", metadata={"help": "timm auto-augment policy, or none"})
    reprob: float = field(default=0.25, metadata={"help": "random-erasing probability"})
    aug_repeats: int = field(default=1, metadata={
        "help": "repeated augmentation: each sampled image appears this many times per epoch, differently augmented "
                "(DeiT's RASampler; 1: off)"})
    hflip: float = field(default=0.5, metadata={"help": "horizontal-flip probability"})
    color_jitter: float = field(default=0.4, metadata={"help": "colour-jitter strength (used without --aa)"})
    scale: tuple[float, float] = field(default=(0.08, 1.0), metadata={"help": "random-resized-crop area range"})
    ratio: tuple[float, float] = field(default=(3 / 4, 4 / 3), metadata={"help": "random-resized-crop aspect range"})
    drop_path: float | None = field(default=0.1, metadata={"help": "stochastic depth (family schedule)"})
    permute: str | None = field(default=None, metadata={
        "help": "train and test on images shuffled by one fixed permutation from the seed (Mixer Fig. 4): 'patch' "
                "(tile order and the pixels inside each tile) or 'pixel' (every pixel)"})
    permute_patch: int | None = field(default=None, metadata={
        "help": "tile side for --permute patch (default: the model's patch_size)"})
    model_ema: bool = field(default=False, metadata={"help": "keep an EMA of the weights and evaluate it"})
    model_ema_decay: float = field(default=0.99996, metadata={"help": "EMA decay per step"})
    # ---- numerics and scale
    precision: str = field(default="32-true", metadata={"help": "32-true, bf16-mixed or 16-mixed"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the model"})
    seed: int = field(default=42, metadata={"help": "random seed"})
    devices: int = field(default=1, metadata={"help": "devices (processes) per node"})
    num_nodes: int = field(default=1, metadata={"help": "machines"})
    strategy: str = field(default="auto", metadata={"help": "auto, ddp or fsdp"})
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu or auto"})
    # ---- starting points
    init: str | None = field(default=None, metadata={"help": "weights to start from (new head, resampled grid)"})
    resume: str | None = field(default=None, metadata={
        "help": "a run folder to continue where it stopped; only --epochs, --lr and --clip-grad may change"})
    overwrite: bool = field(default=False, metadata={
        "help": "start over in an --out that holds a run: delete that run's files first"})

    def __post_init__(self) -> None:
        # YAML and JSON have no tuples: a pair read back from config.yaml arrives as a list
        for name, hint in _hints().items():
            value = getattr(self, name)
            if isinstance(value, list) and "tuple" in str(hint):
                setattr(self, name, tuple(value))

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum_steps * self.devices * self.num_nodes

    @property
    def resolved_lr(self) -> float:
        """``lr`` if given, else ``lr_base · global_batch / lr_base_size`` (DeiT's linear rule)."""
        return self.lr if self.lr is not None else self.lr_base * self.global_batch / self.lr_base_size

    def validate(self) -> None:
        """Raise ``ValueError`` with one actionable line for the first bad value.

        Flags, ``--config`` files, a resumed run's ``config.yaml`` and the Python API all pass through here.
        """
        for name, hint in _hints().items():
            value = getattr(self, name)
            if not _matches(value, hint):
                raise ValueError(f"{flag(name)} expects {_describe(hint)}, got {value!r}")
        for name in ("epochs", "batch_size", "grad_accum_steps", "devices", "num_nodes", "lr_base_size",
                     "aug_repeats"):
            _check_range(name, getattr(self, name), 1)
        for name in ("workers", "warmup_epochs"):
            _check_range(name, getattr(self, name), 0)
        for name in ("lr_base", "lr", "clip_grad"):
            _check_range(name, getattr(self, name), 0, low_open=True)
        for name in ("warmup_lr", "min_lr", "weight_decay", "mixup", "cutmix", "color_jitter"):
            _check_range(name, getattr(self, name), 0)
        for name in ("val_split", "smoothing", "drop_path", "model_ema_decay"):
            _check_range(name, getattr(self, name), 0, 1, high_open=True)
        _check_range("warmup_steps", self.warmup_steps, 0)
        for name in ("opt_eps", "decay_rate"):
            _check_range(name, getattr(self, name), 0, low_open=True)
        for name in ("reprob", "hflip"):
            _check_range(name, getattr(self, name), 0, 1)
        _check_pair("scale", self.scale, high=1.0)
        _check_pair("ratio", self.ratio)
        sides = self.img_size if isinstance(self.img_size, tuple) else (self.img_size,)
        for side in sides:
            if side is not None and side < 1:
                raise ValueError(f"--img-size must be at least 1, got {self.img_size}")
        _check_choice("bad_images", self.bad_images, ("skip", "error"))
        _check_choice("precision", self.precision, ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true"))
        _check_choice("strategy", self.strategy, ("auto", "ddp", "fsdp", "ddp_spawn"))
        _check_choice("sched", self.sched, ("cosine", "tanh", "step", "multistep", "poly"))
        _check_choice("opt", self.opt.lower(), _optimizers())
        if self.permute is not None:
            _check_choice("permute", self.permute, ("patch", "pixel"))
        if self.recipe is not None:
            _check_choice("recipe", self.recipe, tuple(RECIPES))
        for name in ("out", "resume"):
            path = getattr(self, name)
            if path is not None and Path(path).exists() and not Path(path).is_dir():
                raise ValueError(f"{flag(name)} {path} is a file; give a folder")
        check_model_name(self.model)
        check_auto_augment(self.aa)
        check_accelerator(self.accelerator)
        check_model_kwargs(self)


def flag(name: str) -> str:
    """The command-line flag of a configuration field: ``batch_size`` → ``--batch-size``."""
    return "--" + name.replace("_", "-")


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the type ``hint`` names (the forms configurations use; others are not checked)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, int | float)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return isinstance(value, tuple | list) and all(_matches(item, args[0]) for item in value)
        return (isinstance(value, tuple | list) and len(value) == len(args)
                and all(_matches(item, arg) for item, arg in zip(value, args, strict=True)))
    if origin is dict:
        return isinstance(value, dict) and all(_matches(key, args[0]) and _matches(item, args[1])
                                               for key, item in value.items())
    if origin is list:
        return isinstance(value, list | tuple) and all(_matches(item, args[0]) for item in value)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        return f"{len(args)} × {_describe(args[0])}" if args[-1] is not Ellipsis else f"a list of {_describe(args[0])}"
    if origin is dict:
        return "KEY=VALUE pairs"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "none"}
    return names.get(hint, str(hint))


def _check_range(name: str, value: float | None, low: float, high: float = math.inf, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    """``low ≤ value ≤ high`` (open ends where asked), finite; ``None`` passes (the setting is off)."""
    if value is None:
        return
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below and math.isfinite(value)):
        left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        interval = f"> {low:g}" if high == math.inf and low_open else f"≥ {low:g}" if high == math.inf else (
            f"in {left}{low:g}, {high:g}{right}")
        raise ValueError(f"{flag(name)} must be a finite number {interval}, got {value}")


def _check_pair(name: str, pair: tuple[float, float], high: float = math.inf) -> None:
    low_value, high_value = pair
    if not (0 < low_value <= high_value <= high and math.isfinite(high_value)):
        limit = f" ≤ {high:g}" if high != math.inf else ""
        raise ValueError(f"{flag(name)} takes MIN MAX with 0 < MIN ≤ MAX{limit}, got {low_value:g} {high_value:g}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = f"one of {', '.join(choices)}" if len(choices) <= 8 else "in timm.optim.list_optimizers()"
        raise ValueError(f"{flag(name)} {value!r} is not {shown}{hint}")


@functools.cache
def _optimizers() -> tuple[str, ...]:
    import timm.optim

    return tuple(timm.optim.list_optimizers())


def check_auto_augment(policy: str | None) -> None:
    """Build ``policy`` the way timm's ``create_transform`` dispatches it, so that a bad one fails before training."""
    if policy is None:
        return
    from timm.data.auto_augment import augment_and_mix_transform, auto_augment_transform, rand_augment_transform

    build = (rand_augment_transform if policy.startswith("rand") else
             augment_and_mix_transform if policy.startswith("augmix") else auto_augment_transform)
    try:
        build(policy, {"translate_const": 100, "img_mean": (124, 116, 104)})
    except (AssertionError, ValueError, KeyError, IndexError) as error:
        reason = f" ({error})" if str(error) else ""
        raise ValueError(f"--aa {policy!r} is not a timm auto-augment policy{reason}; e.g. rand-m9-mstd0.5-inc1, "
                         f"augmix-m5-w3, original, v0, 3a, or none") from None


def check_accelerator(name: str) -> None:
    """Refuse an accelerator Lightning does not know, or one this machine does not have."""
    if name == "auto":
        return
    from lightning.pytorch.accelerators import AcceleratorRegistry

    known = sorted(AcceleratorRegistry.available_accelerators())
    wanted = ("cuda", "mps") if name == "gpu" else (name,) if name in known else ()
    if not wanted:
        raise ValueError(f"--accelerator {name!r} is not one of auto, gpu, {', '.join(known)}")
    if not any(AcceleratorRegistry[option]["accelerator"].is_available() for option in wanted):
        raise ValueError(f"--accelerator {name}: this machine has none; use --accelerator auto or cpu")


def check_model_kwargs(config: "TrainConfig") -> None:
    """Build the model on the meta device (no memory, no time), so that a keyword it cannot take fails here, named.

    An integer keyword whose default is positive (a depth, a width, a patch size) must be at least 1.
    """
    import torch

    from .run import create_model

    kwargs = config.model_kwargs
    if "num_classes" in kwargs:
        raise ValueError("--model-kwargs num_classes: the head's size comes from the data's classes; leave it out")
    with torch.device("meta"):
        try:  # the model's class, for its signature: built with its own defaults
            model = create_model(dataclasses.replace(config, model_kwargs={}, img_size=None), num_classes=2)
        except Exception:  # the defaults themselves do not build (e.g. a required keyword): the full build tells
            model = None
        parameters = inspect.signature(type(model).__init__).parameters if model is not None else {}
        for key, value in kwargs.items():
            parameter = parameters.get(key)
            if parameter is None or parameter.annotation is inspect.Parameter.empty:
                continue
            hint = parameter.annotation
            if isinstance(hint, str):  # postponed annotations: not worth evaluating here
                continue
            if not _matches(value, hint):
                raise ValueError(f"--model-kwargs {key}={value}: {config.model} expects {_describe(hint)}")
            default = parameter.default
            positive = default is parameter.empty or default is None or (
                isinstance(default, int | tuple) and all(item > 0 for item in _ints(default)))
            if positive and _ints(value) and min(_ints(value)) < 1:
                raise ValueError(f"--model-kwargs {key}={value}: must be at least 1")
        try:
            create_model(config, num_classes=2)
        except Exception as error:
            raise ValueError(_blame(config, error)) from None


def _ints(value: Any) -> list[int]:
    items = value if isinstance(value, tuple | list) else [value]
    return [item for item in items if isinstance(item, int) and not isinstance(item, bool)]


def _blame(config: "TrainConfig", error: Exception) -> str:
    """One line naming the keyword without which the model builds (else all of them) and the builder's reason."""
    from .run import create_model

    reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no message'}"
    kwargs = config.model_kwargs
    for key in kwargs:
        try:
            create_model(dataclasses.replace(config, model_kwargs={k: v for k, v in kwargs.items() if k != key}), 2)
        except Exception:
            continue
        if "unexpected keyword argument" in reason:
            return f"--model-kwargs {key}={kwargs[key]}: {config.model} takes no keyword {key!r}"
        if str(error).startswith(f"{config.model} takes no "):  # the family's own refusal names what it takes
            return f"--model-kwargs {key}={kwargs[key]}: {str(error).splitlines()[0]}"
        return f"--model-kwargs {key}={kwargs[key]}: {config.model} cannot be built with it ({reason})"
    given = " ".join(f"{key}={value}" for key, value in kwargs.items())
    settings = f" with --model-kwargs {given}" if given else ""
    return f"{config.model} cannot be built{settings} at --img-size {config.img_size} ({reason})"


# keywords of the model that a configuration field also sets: given in --model-kwargs, they mean that field
MODEL_KWARG_FIELDS = {"img_size": "img_size", "drop_path_rate": "drop_path"}

# what a resumed run may change, and why that is sound (everything else would make it another run)
RESUMABLE = {
    "epochs": "train further (the cosine schedule stretches to the new length from where the run is)",
    "lr": "a new peak learning rate from here on, e.g. after a NaN stop",
    "clip_grad": "clip the gradients from here on, e.g. after a NaN stop",
}


def resolve_config(overrides: dict[str, Any]) -> TrainConfig:
    """The configuration from explicit settings over the recipe (``digits`` for --data digits, else ``deit``).

    With ``resume``, the run's own ``config.yaml`` takes the recipe's place, and only ``RESUMABLE`` settings may
    differ from it.
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    if overrides.get("resume"):
        return _resume_config(overrides)
    data = overrides.get("data", TrainConfig.data)
    recipe = overrides.get("recipe") or ("digits" if data == "digits" else "deit")
    if recipe not in RECIPES:
        raise ValueError(f"unknown --recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    settings = {**RECIPES[recipe], **overrides, "recipe": recipe}
    recipe_model = RECIPES[recipe].get("model", TrainConfig.model)
    if overrides.get("model", recipe_model) != recipe_model:
        # the recipe's model_kwargs shape the recipe's model; another model starts from its own defaults
        settings["model_kwargs"] = overrides.get("model_kwargs", {})
    elif isinstance(overrides.get("model_kwargs"), dict):
        # keyword by keyword, the flag over the recipe: `--model-kwargs depth=2` keeps the recipe's patch size
        settings["model_kwargs"] = {**RECIPES[recipe].get("model_kwargs", {}), **overrides["model_kwargs"]}
    model_kwargs = dict(settings.get("model_kwargs") or {})
    if isinstance(settings.get("model_kwargs"), dict):
        for key, name in MODEL_KWARG_FIELDS.items():
            if key not in model_kwargs:
                continue
            value = model_kwargs.pop(key)
            if name in overrides and overrides[name] != value:
                raise ValueError(f"--model-kwargs {key}={value} and {flag(name)} {overrides[name]} disagree; "
                                 f"give {flag(name)} only")
            settings[name] = value  # an explicit keyword beats the recipe's value of the same setting
        settings["model_kwargs"] = model_kwargs
    config = TrainConfig(**settings)
    config.validate()
    return config


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's ``config.yaml`` as settings, with one line naming the file when it cannot be used."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: not a run folder (no config.yaml)")
    try:
        saved = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"{path} is not valid YAML ({problem}{line}); restore it from a copy, or start a new "
                         f"run") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} does not hold a configuration (a YAML mapping of settings); restore it from a copy")
    unknown = set(saved) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"{path} has settings this version does not know: {', '.join(sorted(map(str, unknown)))}")
    return saved


def _resume_config(overrides: dict[str, Any]) -> TrainConfig:
    run_dir = Path(overrides["resume"])
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--resume {run_dir} is a file; give the run folder")
    saved = read_run_config(run_dir)
    try:
        config = TrainConfig(**{**saved, "resume": None, "overwrite": False})
        config.validate()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{run_dir / 'config.yaml'}: {error}") from None
    changes = {}
    for name, value in overrides.items():
        if name == "resume" or (name == "overwrite" and not value):
            continue
        if name == "out":
            if Path(value).resolve() != run_dir.resolve():
                raise ValueError(f"--resume {run_dir} continues in that folder; leave out --out {value}")
            continue
        if name == "overwrite":
            raise ValueError(f"--resume and --overwrite contradict each other; --overwrite {run_dir} starts over")
        before = getattr(config, name)
        if value == before or (isinstance(before, tuple) and tuple(value) == before):
            continue
        if name not in RESUMABLE:
            raise ValueError(
                f"--resume {run_dir}: {flag(name)} cannot change in a resumed run (it was {before!r}), only "
                f"{', '.join(map(flag, RESUMABLE))} can; for a new run from its weights use --out NEW "
                f"--init {run_dir / 'checkpoints' / 'best.safetensors'}")
        changes[name] = value
    config = dataclasses.replace(config, **changes, resume=str(run_dir))
    config.validate()
    return config
