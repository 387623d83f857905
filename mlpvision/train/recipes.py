"""The named recipes behind ``--recipe``: each family's published training recipe, with the source of every value.

A recipe presets :class:`~mlpvision.train.config.TrainConfig` fields; a flag given on the command line wins over it.
Every value is written as ``(value, source)``: a file and line of the authors' code, or a section of the paper.

The learning rate is stored as the paper's pair (``lr_base`` at a global batch of ``lr_base_size``) and scaled
linearly to the run's global batch, the rule DeiT and its descendants apply in code (deit ``main.py:350``); papers
that state no rule get the same linear rule, and the recipe says so. The ImageNet recipes leave ``batch_size`` to the
user (a paper's global batch of 1024-4096 is many devices), so the lr follows whatever batch the run has.

Code references, at the commits read:

* ``deit`` facebookresearch/deit@7e160fe (DeiT ``main.py``), and its issues #106 (ResMLP) and #117 (ResMLP on CIFAR)
* ``vit_jax`` google-research/vision_transformer@c6de1e5 (Mixer fine-tuning)
* ``ViP`` Andrew-Qibin/VisionPermutator@2cab2ce (timm 0.4.5 ``main.py``)
* ``DynaMixer`` ziyuwwang/DynaMixer@038b73b
* ``SPACH`` microsoft/SPACH@dcede1e (sMLPNet)
* ``CycleMLP`` ShoufaChen/CycleMLP@4e062a0
* ``RepMLP`` DingXiaoH/RepMLP@3eff13f
* ``FF-only`` lukemelas/do-you-even-need-attention@1f57ab0 (trains with DeiT's ``main.py``)

Repeated augmentation (``aug_repeats`` 3: DeiT's ``RASampler``, on by default in the DeiT-descended scripts) is set
where the authors' script turns it on; ViP and DynaMixer train with timm's ``train.py``, which has none.
"""

from typing import Any

from timm.layers import to_2tuple

# (value, where it comes from)
Sourced = tuple[Any, str]

DIGITS_MODEL_KWARGS = {"patch_size": 2, "depth": 4, "embed_dim": 64}

# DeiT's defaults (deit main.py), the base the MLP papers' PyTorch code inherits
_DEIT: dict[str, Sourced] = {
    "epochs": (300, "deit main.py:35"),
    "lr_base": (5e-4, "deit main.py:71"),
    "lr_base_size": (512, "deit main.py:350 (lr × batch / 512)"),
    "opt": ("adamw", "deit main.py:56"),
    "opt_eps": (1e-8, "deit main.py:58"),
    "weight_decay": (0.05, "deit main.py:66"),
    "sched": ("cosine", "deit main.py:69"),
    "warmup_epochs": (5, "deit main.py:86"),
    "warmup_lr": (1e-6, "deit main.py:79"),
    "min_lr": (1e-5, "deit main.py:81"),
    "clip_grad": (None, "deit main.py:62"),
    "smoothing": (0.1, "deit main.py:101"),
    "mixup": (0.8, "deit main.py:128"),
    "cutmix": (1.0, "deit main.py:130"),
    "aa": ("rand-m9-mstd0.5-inc1", "deit main.py:98"),
    "reprob": (0.25, "deit main.py:118"),
    "drop_path": (0.1, "deit main.py:46"),
    # deit main.py:51 keeps an EMA, but main.py:447 reports the raw model; here an EMA would be what is evaluated
    "model_ema": (False, "deit main.py:447 (the raw model is evaluated)"),
    "model_ema_decay": (0.99996, "deit main.py:52"),
    "aug_repeats": (3, "deit main.py:107 (repeated_aug on by default); samplers.py RASampler num_repeats=3"),
}


def _with(base: dict[str, Sourced], **changes: Sourced) -> dict[str, Sourced]:
    return {**base, **changes}


_RECIPES: dict[str, dict[str, Sourced]] = {
    "deit": _DEIT,
    # ResMLP: "similar to the default setting used in DeiT" with LAMB, lr 5e-3, wd 0.2, 400 epochs, constant drop
    # path 0.05 for S12 (the model's own constant schedule) and no EMA beyond DeiT's default (deit #106)
    "resmlp": _with(
        _DEIT,
        model=("mlpv_resmlp_12", "ResMLP paper Table 1 (S12)"),
        epochs=(400, "deit#106: epochs 400"),
        lr_base=(5e-3, "deit#106: lr 5e-3"),
        lr_base_size=(2048, "deit#106: batch size 2048"),
        opt=("lamb", "deit#106: optimizer lamb"),
        weight_decay=(0.2, "deit#106: weight-decay 0.2"),
        drop_path=(0.05, "deit#106: stochastic depth 0.05 (constant over depth, CaiT-style)"),
        precision=("32-true", "deit#106: FP16 False"),
    ),
    # ResMLP fine-tuned on CIFAR-10/100 from ImageNet weights (give --init); min lr stays DeiT's 1e-5 as in the thread
    "resmlp_cifar": _with(
        _DEIT,
        model=("mlpv_resmlp_12", "deit#117 (ResMLP-12: 87.0 on CIFAR-100)"),
        img_size=(224, "deit#117: fine-tuned at the pre-training size"),
        epochs=(1000, "deit#117: epochs 1000"),
        lr_base=(5e-6, "deit#117: lr 5e-6"),
        lr_base_size=(768, "deit#117: global batch size 768"),
        opt=("adamw", "deit#117: optimizer Adamw"),
        weight_decay=(0.05, "deit#117: weight-decay 0.05"),
        warmup_epochs=(5, "deit#117: warmup epochs 5"),
        warmup_lr=(1e-6, "deit#117: Warmup LR 1e-6"),
        min_lr=(1e-5, "deit#117: min-lr left at DeiT's default (deit main.py:81)"),
        drop_path=(0.05, "deit#117: drop-path 0.05 for 12 (0.1 for 24)"),
        model_ema=(False, "deit#117: not listed; fine-tuning from --init"),
        precision=("32-true", "deit#117: Remove mixed precision True"),
    ),
    # MLP-Mixer on ImageNet-1k: Adam, linear warm-up over 10k steps then linear decay, clip 1, RandAugment(2, 15),
    # mixup 0.5 and no CutMix, linear stochastic depth to 0.1, no label smoothing or erasing
    "mixer": {
        "model": ("mlpv_mixer_b16", "Mixer paper Table 2 (B/16 on ImageNet-1k)"),
        "epochs": (300, "Mixer paper App. B Table 4"),
        "lr_base": (1e-3, "Mixer paper App. B Table 4: lr 1e-3 (grid 3e-3, 1e-3)"),
        "lr_base_size": (4096, "Mixer paper §3: batch size 4096; no scaling rule stated, linear assumed"),
        "opt": ("adamw", "Mixer paper §3: Adam β 0.9/0.999 with weight decay"),
        "weight_decay": (0.1, "Mixer paper App. B Table 4"),
        "sched": ("poly", "Mixer paper §3: linear decay (timm poly, power 1)"),
        "decay_rate": (1.0, "Mixer paper §3: linear decay"),
        "warmup_steps": (10_000, "Mixer paper §3: linear warm-up of 10k steps"),
        "warmup_prefix": (True, "Mixer paper §3: linear decay after the warm-up"),
        "warmup_lr": (0.0, "Mixer paper §3: linear warm-up from 0"),
        "min_lr": (0.0, "Mixer paper §3: linear decay to 0"),
        "clip_grad": (1.0, "Mixer paper §3: gradient clipping at global norm 1"),
        "smoothing": (0.0, "Mixer paper App. B: none"),
        "mixup": (0.5, "Mixer paper App. B Table 4: mixup 0.5"),
        "cutmix": (0.0, "Mixer paper App. B: no CutMix"),
        "aa": ("rand-m15-n2-mmax15", "Mixer paper App. B Table 4: RandAugment 2 layers, magnitude 15"),
        "reprob": (0.0, "Mixer paper App. B: none"),
        "drop_path": (0.1, "Mixer paper App. B: stochastic depth linear 0 → 0.1"),
        "model_ema": (False, "Mixer paper: none"),
    },
    # Mixer fine-tuning (vit_jax): momentum SGD, batch 512, lr 0.03, 500 warm-up steps, cosine, clip 1, no weight
    # decay; 10k steps at batch 512 are 104.5 epochs of CIFAR-10's 49,000 training images (train[:98%])
    "mixer_finetune": {
        "model": ("mlpv_mixer_b16", "vit_jax configs/mixer_base16_cifar10.py:25"),
        "img_size": (224, "vit_jax configs/mixer_base16_cifar10.py:29 (crop 224)"),
        "epochs": (105, "vit_jax configs/mixer_base16_cifar10.py:27: 10k steps × 512 / 49,000 images"),
        "lr_base": (0.03, "vit_jax configs/common.py:64"),
        "lr_base_size": (512, "vit_jax configs/common.py:48; no scaling rule in the code, linear assumed"),
        "opt": ("momentum", "vit_jax train.py:142 (momentum 0.9)"),
        "weight_decay": (0.0, "Mixer paper §3: fine-tuning without weight decay"),
        "sched": ("cosine", "vit_jax configs/common.py:66"),
        "warmup_steps": (500, "vit_jax configs/common.py:68"),
        "warmup_prefix": (True, "vit_jax utils.py:82 (the decay starts after the warm-up)"),
        "warmup_lr": (0.0, "vit_jax: linear warm-up from 0"),
        "min_lr": (0.0, "vit_jax: cosine to 0"),
        "clip_grad": (1.0, "vit_jax configs/common.py:41"),
        "smoothing": (0.0, "vit_jax: none"),
        "mixup": (0.0, "vit_jax: none"),
        "cutmix": (0.0, "vit_jax: none"),
        "aa": (None, "vit_jax: inception crop and flip only"),
        "color_jitter": (0.0, "vit_jax: none"),
        "reprob": (0.0, "vit_jax: none"),
        "drop_path": (0.0, "vit_jax: none"),
        "model_ema": (False, "vit_jax: none"),
    },
    # gMLP: AdamW (ε 1e-6), lr 1e-3 at 4096, 10k warm-up steps, AutoAugment, clip 1 (paper App. A.1 Table 7)
    "gmlp": _with(
        _DEIT,
        model=("mlpv_gmlp_s16", "gMLP paper Table 1 (gMLP-S)"),
        lr_base=(1e-3, "gMLP App. A.1 Table 7: peak lr 1e-3"),
        lr_base_size=(4096, "gMLP App. A.1 Table 7: batch 4096; no scaling rule stated, linear assumed"),
        opt_eps=(1e-6, "gMLP App. A.1 Table 7: Adam ε 1e-6"),
        warmup_steps=(10_000, "gMLP App. A.1 Table 7: 10k warm-up steps"),
        warmup_lr=(0.0, "gMLP App. A.1 Table 7: linear warm-up"),
        clip_grad=(1.0, "gMLP App. A.1 Table 7: gradient clipping 1.0"),
        aa=("v0", "gMLP App. A.1 Table 7: AutoAugment (TF ImageNet policy, timm 'v0')"),
        reprob=(0.0, "gMLP App. A.1 Table 7: none"),
        drop_path=(0.05, "gMLP Table 1: survival probability 0.95 for gMLP-S"),
        model_ema=(False, "gMLP App. A.1 Table 7: none"),
        aug_repeats=(1, "gMLP App. A.1 Table 7: no repeated augmentation (TF pipeline)"),
    ),
    # FF-only ("Do you even need attention?"): DeiT's main.py unchanged except dropout 0.1 in the MLPs
    "ffonly": _with(
        _DEIT,
        model=("mlpv_ffonly_tiny", "FF-only README: --model linear_tiny"),
        model_kwargs=({"proj_drop_rate": 0.1}, "FF-only README: --drop 0.1"),
    ),
    # ViP: timm 0.4.5 train.py with an absolute lr 2e-3 at batch 256 × 8; the paper's rule is lr = 1e-3 · bs / 1024
    "vip": {
        "model": ("mlpv_vip_s7", "ViP README.md:75 (--model vip_s7)"),
        "epochs": (300, "ViP README.md:75"),
        "lr_base": (1e-3, "ViP paper §4.1: lr = 1e-3 · bs / 1024 (README.md:75: 2e-3 at 256 × 8)"),
        "lr_base_size": (1024, "ViP paper §4.1"),
        "opt": ("adamw", "ViP README.md:75"),
        "opt_eps": (None, "ViP main.py:84 (optimiser default)"),
        "weight_decay": (0.05, "ViP README.md:75"),
        "sched": ("cosine", "ViP README.md:75"),
        "warmup_epochs": (20, "ViP README.md:75"),
        "warmup_lr": (1e-6, "ViP README.md:75"),
        "min_lr": (1e-5, "ViP main.py:112"),
        "clip_grad": (None, "ViP main.py:92"),
        "smoothing": (0.1, "ViP README.md:75"),
        "mixup": (0.8, "ViP README.md:75"),
        "cutmix": (1.0, "ViP README.md:75"),
        "aa": ("rand-m9-mstd0.5-inc1", "ViP README.md:75"),
        "reprob": (0.25, "ViP README.md:75 (--remode pixel)"),
        "drop_path": (0.1, "ViP README.md:75"),
        "model_ema": (False, "ViP main.py:198"),
    },
}

# DynaMixer trains with ViP's script and flags (README.md:53 for S: -b 256 on 8 GPUs, lr 2e-3)
_RECIPES["dynamixer"] = _with(
    {key: (value, source.replace("ViP README.md:75", "DynaMixer README.md:53")) for key, (value, source)
     in _RECIPES["vip"].items()},
    model=("mlpv_dynamixer_s", "DynaMixer README.md:53 (--model dynamixer_s)"),
    lr_base=(2e-3, "DynaMixer README.md:53: lr 2e-3 (the paper says 1e-3 for L)"),
    lr_base_size=(2048, "DynaMixer README.md:53: -b 256 on 8 GPUs; scaled linearly as ViP §4.1"),
)
_RECIPES.update({
    # sMLPNet: DeiT's main.py with 20 warm-up epochs; drop path by size (T 0, S 0.2, B 0.3: the variant's own)
    "smlpnet": _with(
        _DEIT,
        model=("mlpv_smlpnet_t", "sMLPNet paper Table 6 (sMLPNet-T)"),
        lr_base=(5e-4, "SPACH main.py:67"),
        lr_base_size=(512, "SPACH main.py:336 (lr × batch / 512)"),
        warmup_epochs=(20, "SPACH main.py:82"),
        aug_repeats=(3, "SPACH main.py:103 (repeated_aug on by default)"),
        drop_path=(None, "sMLPNet paper §4: 0 / 0.2 / 0.3 for T / S / B (each variant's default)"),
        model_ema=(False, "SPACH main.py:47 keeps an EMA; the raw model is evaluated, as in deit main.py:447"),
    ),
    # CycleMLP: DeiT's main.py unchanged (README: --batch-size 128 on 8 GPUs)
    "cyclemlp": _with(
        _DEIT,
        model=("mlpv_cyclemlp_b1", "CycleMLP README (CycleMLP-B1)"),
        lr_base=(5e-4, "CycleMLP main.py:89"),
        lr_base_size=(512, "CycleMLP main.py:356 (lr × batch / 512)"),
        warmup_epochs=(5, "CycleMLP main.py:104"),
        aug_repeats=(3, "CycleMLP main.py:125 (repeated_aug on by default)"),
        drop_path=(0.1, "CycleMLP main.py:64"),
        model_ema=(False, "CycleMLP main.py:69 keeps an EMA; the raw model is evaluated, as in deit main.py:447"),
    ),
    # RepMLPNet: Swin-style code, 100 epochs, lr scaled × batch / 256, clip 5, RandAugment preset raug15
    # (their own RandAugPolicy, 2 ops at magnitude 15) instead of timm's pipeline, so no erasing or colour jitter
    "repmlpnet": {
        "model": ("mlpv_repmlpnet_t224", "RepMLPNet paper Table 2 (T224)"),
        "epochs": (100, "RepMLP README.md:88 (TRAIN.EPOCHS 100)"),
        "lr_base": (1e-3, "RepMLP README.md:88 (TRAIN.BASE_LR 0.001; the paper says 2e-3)"),
        "lr_base_size": (256, "RepMLP main_repmlp.py:386 (lr × batch / 256)"),
        "opt": ("adamw", "RepMLP README.md:88"),
        "opt_eps": (1e-8, "RepMLP config.py:92"),
        "weight_decay": (0.1, "RepMLP README.md:88"),
        "sched": ("cosine", "RepMLP config.py:82"),
        "warmup_epochs": (10, "RepMLP README.md:88"),
        "warmup_lr": (5e-7, "RepMLP README.md:88"),
        "min_lr": (0.0, "RepMLP README.md:88"),
        "clip_grad": (5.0, "RepMLP config.py:70"),
        "smoothing": (0.1, "RepMLP config.py:56"),
        "mixup": (0.4, "RepMLP README.md:88"),
        "cutmix": (1.0, "RepMLP README.md:88"),
        "aa": ("rand-m15-n2-mmax15", "RepMLP data/build.py:148-153 (raug15: RandAugPolicy, magnitude 15)"),
        "reprob": (0.0, "RepMLP data/build.py:148 (the preset has no erasing)"),
        "drop_path": (None, "RepMLP repmlpnet.py:205: no stochastic depth ('TODO use droppath?')"),
        "model_ema": (False, "RepMLP config.py:99 (EMA_ALPHA 0)"),
    },
    # CCS and S²-MLP (no official code): "the DeiT recipe", AdamW, lr 1e-3 → 1e-5 cosine, 300 epochs
    "ccs": _with(
        _DEIT,
        model=("mlpv_mixer_b16_ccs", "CCS paper Table 3 (Mixer-B/16 + CCS)"),
        lr_base=(1e-3, "CCS paper §4: lr 1e-3 → 1e-5 cosine"),
        lr_base_size=(1024, "CCS paper §4: the DeiT recipe, whose 1e-3 is at batch 1024 (deit main.py:350)"),
    ),
    "s2mlp": _with(
        _DEIT,
        model=("mlpv_s2mlp_wide", "S²-MLP paper Table 2 (wide)"),
        lr_base=(1e-3, "S²-MLP paper §4: lr 1e-3 → 1e-5 cosine"),
        lr_base_size=(1024, "S²-MLP paper §4: the DeiT recipe, whose 1e-3 is at batch 1024 (deit main.py:350)"),
    ),
    # the embedded 8x8 digits: Mixer-S/16's block design shrunk to 8x8 images (patch 2, 4 blocks, 64 channels),
    # light augmentation; reaches about 97% test top-1 (96.9% measured) in well under 2 minutes on 2 CPU cores
    "digits": {
        "model": ("mlpv_mixer_s16", "mlpvision: Mixer-S/16 block design"),
        "model_kwargs": (DIGITS_MODEL_KWARGS, "mlpvision: sized for 8x8 images"),
        "img_size": (8, "mlpvision: the embedded digits are 8x8"),
        "epochs": (30, "measured: 96.9% test top-1"),
        "batch_size": (64, "measured"),
        "lr": (3e-3, "measured"),
        "warmup_epochs": (3, "measured"),
        "min_lr": (1e-5, "deit main.py:81"),
        "mixup": (0.0, "measured: 8x8 digits need no mixing"),
        "cutmix": (0.0, "measured"),
        "aa": (None, "measured"),
        "reprob": (0.0, "measured"),
        "hflip": (0.0, "mlpvision: digits are not mirror-symmetric"),
        "scale": ((0.75, 1.0), "measured"),
        "drop_path": (0.0, "measured"),
        "workers": (0, "mlpvision measured: worker start-up costs more than it saves"),
        "smoothing": (0.1, "deit main.py:101"),
    },
    # CIFAR-sized data (32x32) from scratch, found by measuring on CIFAR-10 with 500 training images a class
    # (docs/benchmarks.md, "Small data"): a 1.27M-parameter sMLPNet (depthwise 3x3 + sparse MLP, four stages)
    # learns faster per image and costs ~2.5x less per epoch than the 1.13M-parameter Mixer-nano this recipe
    # had (patch 4, 8 blocks, C 128); light augmentation (no mixup/CutMix, which slowed learning in short runs).
    # `mlpvision train --data PATH --recipe small`: 67.25% and 67.91% test top-1 (10,000 images) on two seeds, the
    # whole command 14.2 minutes on 2 idle cores (docs/benchmarks.md)
    "small": {
        "model": ("mlpv_smlpnet_t", "measured (docs/benchmarks.md, small data): beat a Mixer at equal epochs"),
        "model_kwargs": ({"depths": (1, 1, 3, 1), "embed_dims": (32, 64, 128, 256)},
                         "measured (docs/benchmarks.md, small data): 1.27M parameters; 2.84M (C 48) was no better "
                         "in the same CPU time"),
        "img_size": (64, "measured (docs/benchmarks.md, small data): 32x32 images upsampled, so the 4x4 stem sees "
                         "2x2 pixels and the first stage a 16x16 grid: 63.0% in 20 epochs vs 60.9% in 39 at 32x32"),
        "epochs": (27, "measured (docs/benchmarks.md, small data): 28 s an epoch on 2 cores, within 15 minutes"),
        "batch_size": (32, "measured (docs/benchmarks.md, small data): 65.1% vs 63.0% at 64 (20 epochs)"),
        "lr": (2e-3, "measured (docs/benchmarks.md, small data): at batch 64, 4e-3 gave 64.0% vs 63.0%"),
        "warmup_epochs": (1, "mlpvision: chosen, not swept"),
        "min_lr": (1e-6, "mlpvision: chosen, not swept"),
        "weight_decay": (0.05, "deit main.py:66"),
        "mixup": (0.0, "issue 13 measured: mixing slows short runs (38.8% vs 56.4%)"),
        "cutmix": (0.0, "issue 13 measured: mixing slows short runs (38.8% vs 56.4%)"),
        "aa": (None, "measured (docs/benchmarks.md, small data): none 53.1% vs rand-m6 52.3% at 12 epochs"),
        "reprob": (0.0, "mlpvision: chosen, not swept"),
        "scale": ((0.35, 1.0), "mlpvision: chosen, not swept"),
        "drop_path": (0.0, "mlpvision: chosen, not swept"),
        "smoothing": (0.1, "deit main.py:101"),
        "workers": (0, "measured (docs/benchmarks.md, small data): on 2 cores a loader process beside the "
                       "2-thread step slows it (37 vs 28 s an epoch)"),
    },
})

RECIPES: dict[str, dict[str, Any]] = {
    name: {key: value for key, (value, _) in recipe.items()} for name, recipe in _RECIPES.items()
}
SOURCES: dict[str, dict[str, str]] = {
    name: {key: source for key, (_, source) in recipe.items()} for name, recipe in _RECIPES.items()
}

# the table's "source" column: where the recipe as a whole is published
REFERENCES: dict[str, str] = {
    "deit": "DeiT main.py defaults (facebookresearch/deit)",
    "resmlp": "ResMLP (arXiv 2105.03404) §3.1; deit#106",
    "resmlp_cifar": "ResMLP Table 4 transfer; deit#117",
    "mixer": "MLP-Mixer (arXiv 2105.01601) §3, App. B",
    "mixer_finetune": "MLP-Mixer §3; vit_jax configs/mixer_base16_cifar10.py",
    "gmlp": "gMLP (arXiv 2105.08050) App. A.1 Table 7",
    "ffonly": "FF-only (arXiv 2105.02723) README: DeiT main.py, --drop 0.1",
    "vip": "ViP (arXiv 2106.12368) §4.1; README train command",
    "dynamixer": "DynaMixer (arXiv 2201.12083) README train command",
    "smlpnet": "sMLPNet (arXiv 2109.05422); SPACH main.py",
    "cyclemlp": "CycleMLP (arXiv 2107.10224); CycleMLP main.py",
    "repmlpnet": "RepMLPNet (arXiv 2112.11081) §5.1; RepMLP README, config.py",
    "ccs": "CCS (arXiv 2106.00604): the DeiT recipe, lr 1e-3",
    "s2mlp": "S²-MLP (arXiv 2106.07477): the DeiT recipe, lr 1e-3",
    "digits": "mlpvision (measured on the embedded digits)",
    "small": "mlpvision: measured on CIFAR-10, 500 images a class (docs/benchmarks.md)",
}


def recipe_rows() -> list[dict[str, str]]:
    """One summary row per recipe (the columns of ``mlpvision recipes``), from the configuration each resolves to."""
    from .config import resolve_config  # config imports this module

    rows = []
    for name in RECIPES:
        config = resolve_config({"recipe": name, "data": "digits" if name == "digits" else "folder"})
        kwargs = "".join(f" {key}={value}" for key, value in config.model_kwargs.items())
        size = " at {}×{}".format(*to_2tuple(config.img_size)) if config.img_size else ""
        eps = f", eps {config.opt_eps:g}" if config.opt_eps is not None else ""
        rule = (f"{config.lr:g} (fixed)" if config.lr is not None
                else f"{config.lr_base:g} × batch/{config.lr_base_size}")
        decay = "linear" if config.sched == "poly" and config.decay_rate == 1 else config.sched
        warmup = (f"{config.warmup_steps:,} steps" if config.warmup_steps is not None
                  else f"{config.warmup_epochs} epoch{'s' if config.warmup_epochs != 1 else ''}")
        mixing = (f"mixup {config.mixup:g}" if config.mixup else "") + (
            f"{', ' if config.mixup else ''}cutmix {config.cutmix:g}" if config.cutmix else "")
        augmentation = ", ".join(part for part in (
            config.aa or "crop+flip", mixing, f"erase {config.reprob:g}" if config.reprob else "",
            f"aug-repeats {config.aug_repeats}" if config.aug_repeats > 1 else "") if part)
        drop_path = "model's" if config.drop_path is None else f"{config.drop_path:g}"
        regularisation = ", ".join(part for part in (
            f"wd {config.weight_decay:g}", f"ls {config.smoothing:g}" if config.smoothing else "",
            f"drop path {drop_path}", f"clip {config.clip_grad:g}" if config.clip_grad else "",
            "EMA" if config.model_ema else "") if part)
        rows.append({
            "recipe": name, "model": config.model + kwargs + size,
            "optimiser": ("sgd, momentum 0.9" if config.opt == "momentum" else config.opt) + eps,
            "lr rule": f"{rule}, {decay} to {config.min_lr:g}", "epochs": str(config.epochs), "warm-up": warmup,
            "augmentation": augmentation, "regularisation": regularisation, "source": REFERENCES[name],
        })
    return rows
