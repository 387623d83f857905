"""Training configuration: one dataclass with commented defaults, and the named recipes that preset it.

Precedence: a flag given on the command line > the recipe > the dataclass default. Flag names follow timm's
``train.py`` where it has a flag for the same thing (``--model``, ``--epochs``, ``--batch-size``, ``--lr``, ...).
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..models import check_model_name

DIGITS_MODEL_KWARGS = {"patch_size": 2, "depth": 4, "embed_dim": 64}


@dataclass
class TrainConfig:
    # ---- what to train on what
    model: str = field(default="mlpv_mixer_s16", metadata={"help": "any mlpvision or timm model name"})
    model_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "keyword arguments for the model, e.g. depth=4 embed_dim=64"})
    data: str = field(default="digits", metadata={
        "help": "'digits' (embedded), an image-folder PATH, 'cifar10:PATH' or 'cifar100:PATH' (torchvision layout)"})
    recipe: str | None = field(default=None, metadata={
        "help": "preset: 'digits' (default for --data digits), 'small' (CIFAR-sized data) or 'deit' (default)"})
    out: str | None = field(default=None, metadata={"help": "output folder (default runs/<date-time>)"})
    img_size: int | None = field(default=None, metadata={"help": "input side (default: the model's)"})
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
    weight_decay: float = field(default=0.05, metadata={"help": "decay, not applied to norms/biases/Affine/LayerScale"})
    sched: str = field(default="cosine", metadata={"help": "timm scheduler name"})
    warmup_epochs: int = field(default=5, metadata={"help": "linear warm-up epochs"})
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
    hflip: float = field(default=0.5, metadata={"help": "horizontal-flip probability"})
    color_jitter: float = field(default=0.4, metadata={"help": "colour-jitter strength (used without --aa)"})
    scale: tuple[float, float] = field(default=(0.08, 1.0), metadata={"help": "random-resized-crop area range"})
    ratio: tuple[float, float] = field(default=(3 / 4, 4 / 3), metadata={"help": "random-resized-crop aspect range"})
    drop_path: float | None = field(default=0.1, metadata={"help": "stochastic depth (family schedule)"})
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
    resume: str | None = field(default=None, metadata={"help": "a run folder to continue exactly where it stopped"})

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum_steps * self.devices * self.num_nodes

    @property
    def resolved_lr(self) -> float:
        """``lr`` if given, else ``lr_base · global_batch / lr_base_size`` (DeiT's linear rule)."""
        return self.lr if self.lr is not None else self.lr_base * self.global_batch / self.lr_base_size

    def validate(self) -> None:
        """Raise ``ValueError`` with one actionable line for the first bad value."""
        positive_ints = ("epochs", "batch_size", "grad_accum_steps", "devices", "num_nodes", "lr_base_size")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"--lr must be a positive number, got {self.lr}")
        if not self.lr_base > 0:
            raise ValueError(f"--lr-base must be positive, got {self.lr_base}")
        for name in ("val_split", "reprob", "hflip", "smoothing"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        if self.workers < 0 or self.weight_decay < 0 or self.warmup_epochs < 0:
            raise ValueError("--workers, --weight-decay and --warmup-epochs must not be negative")
        if self.bad_images not in ("skip", "error"):
            raise ValueError(f"--bad-images must be 'skip' or 'error', got {self.bad_images!r}")
        if self.precision not in ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true"):
            raise ValueError(f"--precision must be 32-true, bf16-mixed or 16-mixed, got {self.precision!r}")
        if self.strategy not in ("auto", "ddp", "fsdp", "ddp_spawn"):
            raise ValueError(f"--strategy must be auto, ddp or fsdp, got {self.strategy!r}")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(f"unknown --recipe {self.recipe!r}; choose from {', '.join(RECIPES)}")
        check_model_name(self.model)


RECIPES: dict[str, dict[str, Any]] = {
    # DeiT's ImageNet recipe (deit main.py defaults), as the MLP papers trained with it
    "deit": {},
    # the embedded 8x8 digits: Mixer-S/16's block design shrunk to 8x8 images (patch 2, 4 blocks, 64 channels),
    # light augmentation; reaches >= 97% test top-1 in well under 2 minutes on 2 CPU cores
    "digits": dict(
        model="mlpv_mixer_s16", model_kwargs=DIGITS_MODEL_KWARGS, img_size=8, epochs=30, batch_size=64, lr=3e-3,
        warmup_epochs=3, min_lr=1e-5, mixup=0.0, cutmix=0.0, aa=None, reprob=0.0, hflip=0.0, scale=(0.75, 1.0),
        drop_path=0.0, workers=0, smoothing=0.1,
    ),
    # CIFAR-sized data (32x32) from scratch: the layout of omihub777/MLP-Mixer-CIFAR's "Mixer-nano" (patch 4, C 128,
    # D_S 64, D_C 512, 8 blocks: 1.13M parameters with a 10-class head, counted from this code; its README reports
    # 90.8% on CIFAR-10 after 300 epochs), DeiT-style augmentation
    "small": dict(
        model="mlpv_mixer_s16", model_kwargs={"patch_size": 4, "depth": 8, "embed_dim": 128}, img_size=32,
        epochs=100, batch_size=128, lr=1e-3, warmup_epochs=5, min_lr=1e-6, weight_decay=0.05, mixup=0.0,
        cutmix=0.5, aa="rand-m9-mstd0.5-inc1", reprob=0.0, scale=(0.5, 1.0), drop_path=0.0, smoothing=0.1,
    ),
}


def resolve_config(overrides: dict[str, Any]) -> TrainConfig:
    """The configuration from explicit settings over the recipe (``digits`` for --data digits, else ``deit``)."""
    data = overrides.get("data", TrainConfig.data)
    recipe = overrides.get("recipe") or ("digits" if data == "digits" else "deit")
    if recipe not in RECIPES:
        raise ValueError(f"unknown --recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    settings = {**RECIPES[recipe], **overrides, "recipe": recipe}
    recipe_model = RECIPES[recipe].get("model", TrainConfig.model)
    if overrides.get("model", recipe_model) != recipe_model:
        # the recipe's model_kwargs shape the recipe's model; another model starts from its own defaults
        settings["model_kwargs"] = overrides.get("model_kwargs", {})
    config = TrainConfig(**settings)
    config.validate()
    return config
