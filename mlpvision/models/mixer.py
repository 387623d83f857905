"""MLP-Mixer: An all-MLP Architecture for Vision (Tolstikhin et al., NeurIPS 2021), https://arxiv.org/abs/2105.01601.

Official JAX/Flax code: google-research/vision_transformer @ c6de1e5378c9831a8477feb30994971bdc409e46
(``vit_jax/models_mixer.py``). Each block mixes tokens with an MLP shared across channels (hidden ``0.5·C``), then
channels with an MLP shared across tokens (hidden ``4·C``), both pre-LayerNorm (eps 1e-6) with residuals; exact GELU
as every PyTorch port by default, ``gelu="tanh"`` for Flax's approximation (the official function: with it, logits
from the official ``.npz`` match the Flax model to 1e-6; with the exact GELU they differ by up to ~2e-4).
Stochastic depth grows linearly from 0 to the given rate (paper App. B; timm uses one constant rate). The weight
init is timm's (xavier-uniform linears, zero head).

Checkpoints: ours; timm's ``mixer_*_224`` layout (``blocks.{i}.mlp_tokens`` …); the official JAX ``.npz``
(``stem/kernel``, ``MixerBlock_{i}/token_mixing/Dense_0/kernel`` …, key names from ``models_mixer.py`` at the
commit above). The timm layout is also the one this module converts for ResMLP and gMLP. Released weights: timm's
hub copies of the Google (B/16, L/16: ImageNet-1k and -21k) and MIIL files, and the authors' SAM / GSAM
ImageNet-1k ``.npz`` files (S/16, S/32, B/32) from their Cloud Storage bucket; see the cfgs for each one's
provenance and evaluation.
"""

import re
from collections.abc import Callable
from functools import partial

from timm.layers import Mlp, lecun_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._manipulate import named_apply
from torch import nn

from ..layers import Grid, MetaFormerBlock, TokenMixer, TokenMlp
from ._backbone import MlpBackbone, MlpStage, drop_path_rates, grid_of, patch_stem
from ._builder import INCEPTION_MEAN_STD, build_model, model_cfg
from ._weights import StateDict, register_weights, rename_keys

MIXER_LAYER_NORM = partial(nn.LayerNorm, eps=1e-6)


def mixer_block(
        dim: int,
        grid_size: Grid,
        drop_path: float,
        mlp_ratio: tuple[float, float] = (0.5, 4.0),
        token_mixer: Callable[..., TokenMixer] | None = None,
        gelu: str = "none",
) -> MetaFormerBlock:
    """A Mixer block (Eq. 1): token MLP of width ``mlp_ratio[0]·C`` (or ``token_mixer``), channel MLP of ``[1]·C``.

    ``gelu`` is ``nn.GELU``'s ``approximate``: ``"none"`` (exact, every PyTorch port) or ``"tanh"`` (Flax's default,
    so that weights from the official JAX ``.npz`` compute exactly the official function).
    """
    act_layer = partial(nn.GELU, approximate=gelu)
    mixer = (
        token_mixer(dim=dim, grid_size=grid_size) if token_mixer is not None
        else TokenMlp(dim, grid_size, int(mlp_ratio[0] * dim), act_layer=act_layer)
    )
    mlp = Mlp(dim, int(mlp_ratio[1] * dim), act_layer=act_layer)
    return MetaFormerBlock(dim, mixer, mlp, norm_layer=MIXER_LAYER_NORM, drop_path=drop_path)


def init_weights_timm(module: nn.Module, name: str = "") -> None:
    """timm's Mixer init: xavier-uniform linears with ~0 biases in MLPs, zero head, lecun-normal stem, unit norms.

    Applied depth-first, so a module's own ``init_weights`` (the spatial gating unit's) runs after its children.
    """
    if isinstance(module, nn.Linear):
        if name.startswith("head"):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        else:
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.normal_(module.bias, std=1e-6)
    elif isinstance(module, nn.Conv2d):
        lecun_normal_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif hasattr(module, "init_weights"):
        module.init_weights()


def init_mixer(model: nn.Module) -> None:
    named_apply(init_weights_timm, model)


# ---- checkpoint layouts ------------------------------------------------------------------------------------

_TIMM_RENAMES = (
    (re.compile(r"^blocks\.(\d+)\."), r"stages.0.blocks.\1."),
    (re.compile(r"\.mlp_tokens\."), ".token_mixer."),
    (re.compile(r"\.linear_tokens\."), ".token_mixer."),
    (re.compile(r"\.mlp_channels\."), ".mlp."),
)


def convert_timm_layout(state: StateDict) -> StateDict:
    """timm's ``mlp_mixer.py`` keys (Mixer, ResMLP, gMLP) → ours; ResMLP's (1, 1, C) affine vectors → (C,)."""
    renamed = rename_keys(state, _TIMM_RENAMES)
    return {key: value.reshape(-1) if key.endswith((".alpha", ".beta")) else value for key, value in renamed.items()}


def convert_jax_layout(state: StateDict) -> StateDict:
    """The official Flax Mixer parameter tree (``.npz``) → ours: kernels transposed, ``scale`` → ``weight``."""
    out = {}
    for key, value in state.items():
        parts = key.split("/")
        leaf = {"kernel": "weight", "scale": "weight", "bias": "bias"}[parts[-1]]
        if parts[0] == "stem":
            out[f"stem.proj.{leaf}"] = value.permute(3, 2, 0, 1) if leaf == "weight" else value
            continue
        if parts[0] in ("head", "pre_head_layer_norm"):
            module = "head" if parts[0] == "head" else "norm"
            out[f"{module}.{leaf}"] = value.t() if parts[-1] == "kernel" else value
            continue
        block = int(parts[0].removeprefix("MixerBlock_"))
        sub = {
            "LayerNorm_0": "norm1", "LayerNorm_1": "norm2",
            "token_mixing/Dense_0": "token_mixer.fc1", "token_mixing/Dense_1": "token_mixer.fc2",
            "channel_mixing/Dense_0": "mlp.fc1", "channel_mixing/Dense_1": "mlp.fc2",
        }["/".join(parts[1:-1])]
        out[f"stages.0.blocks.{block}.{sub}.{leaf}"] = value.t() if parts[-1] == "kernel" else value
    return out


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """Recognise the checkpoint layout by a sentinel key and convert it to ours."""
    if "stem/kernel" in state:
        return convert_jax_layout(state)
    if any(key.startswith("blocks.") for key in state):
        return convert_timm_layout(state)
    return state


# ---- the model --------------------------------------------------------------------------------------------


class MlpMixer(MlpBackbone):
    """MLP-Mixer: patch stem, ``depth`` Mixer blocks (Eq. 1), LayerNorm, token mean, linear classifier.

    ``token_mixer`` (a class taking ``dim`` and ``grid_size``) replaces the token MLP: the CCS family's hook.

    Args:
        patch_size: side of the square patches.
        depth: number of blocks.
        embed_dim: channels C.
        mlp_ratio: token-MLP and channel-MLP widths relative to C.
        gelu: ``"none"`` (exact) or ``"tanh"`` (Flax's approximation; see ``mixer_block``).
        img_size: input size the token MLPs are built for.
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth of the last block, linear from 0.
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            patch_size: int,
            depth: int,
            embed_dim: int,
            mlp_ratio: tuple[float, float] = (0.5, 4.0),
            gelu: str = "none",
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
            token_mixer: Callable[..., TokenMixer] | None = None,
    ) -> None:
        img_size = self.check_img_size(img_size, patch_size)
        grid = grid_of(img_size, patch_size)
        blocks = [mixer_block(embed_dim, grid, rate, mlp_ratio, token_mixer, gelu)
                  for rate in drop_path_rates(drop_path_rate, depth)]
        super().__init__(
            stem=patch_stem(img_size, patch_size, in_chans, embed_dim), stem_stride=patch_size,
            stages=[MlpStage(embed_dim, blocks)], norm=MIXER_LAYER_NORM(embed_dim), num_features=embed_dim,
            img_size=img_size, in_chans=in_chans, num_classes=num_classes, global_pool=global_pool,
            drop_rate=drop_rate,
        )
        self.patch_size, self.grid_size, self.embed_dim = patch_size, grid, embed_dim
        init_mixer(self)


def _create_mixer(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> MlpMixer:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(MlpMixer, variant, pretrained, **{**variant_args, **kwargs})


def _cfg(paper_name: str, count_source: str, notes: tuple[str, ...] = (), **kwargs) -> dict:
    kwargs.setdefault("weights_key_source", "none: a flat Flax parameter tree (.npz) or timm's hub safetensors")
    return model_cfg(
        paper_name=paper_name, arxiv="2105.01601", code_url="https://github.com/google-research/vision_transformer",
        license="apache-2.0", count_source=count_source, mean_std=INCEPTION_MEAN_STD,
        notes=(f"parameter count source: {count_source}", *notes),
        feature_stride=int(paper_name.rsplit("/", 1)[1]), **kwargs,  # the patch: Mixer-B/16
    )


# The authors' evaluation resizes to 224×224 without a crop (vit_jax/input_pipeline.py:213-214, bilinear
# tf.image.resize, (x − 127.5)/127.5 = mean/std 0.5). For the two ImageNet-1k files timm's crop 0.875 bicubic
# measures at least the paper's figures (76.616 vs 76.44, 72.084 vs 71.76), so those keep timm's settings.
_JAX_EVAL = "vision_transformer vit_jax/input_pipeline.py:213-214 (resize to 224x224, no crop, bilinear)"
_TIMM_EVAL = f"timm results-imagenet.csv at crop 0.875 bicubic reproduces the paper; authors: {_JAX_EVAL}"
_BUCKET = "https://storage.googleapis.com/mixer_models"


def _timm_hub(tag: str, **kwargs) -> dict:
    """Where timm keeps the converted official (or MIIL) weights: same tensors in timm's key layout."""
    return dict(hf_hub_id=f"timm/{tag}", page=f"https://huggingface.co/timm/{tag.split('.')[0]}",
                preprocessing_source=_TIMM_EVAL, **kwargs)


def _bucket(folder: str, file: str, **kwargs) -> dict:
    """An ImageNet-1k ``.npz`` of the authors' Cloud Storage bucket (listed in vit_jax.ipynb), cached under a name
    that keeps the folder (sam/ and gsam/ hold files of the same name), evaluated as the authors evaluate."""
    return dict(url=(f"{_BUCKET}/{folder}/{file}", f"mixer_{folder}_{file}"), page=f"{_BUCKET}/{folder}/{file}",
                crop_pct=1.0, crop_mode="squash", interpolation="bilinear", preprocessing_source=_JAX_EVAL,
                notes=(f"gs://mixer_models/{folder}/{file}: a Flax model (tanh GELU); built with gelu='tanh' the "
                       "logits match Flax to 1e-6, with the default exact GELU to ~2e-4",),
                top1_source=_TOP1_SOURCE[folder], **kwargs)


# The GSAM paper's Table 1 gives both columns (its SAM rows are the SAM paper's Table 2, says its author in
# vision_transformer PR #169); read in juntang-zhuang/GSAM img/gsam_results.png, the table its README shows.
_TOP1_SOURCE = {
    "sam": "SAM paper (arXiv 2106.01548) Table 2, as GSAM paper (arXiv 2203.08065) Table 1 'SAM' rows; ImageNet v1",
    "gsam": "GSAM paper (arXiv 2203.08065) Table 1, 'GSAM' rows, ImageNet v1",
}


_IN1K_NOTE = ("timm tags this file goog_in21k_ft_in1k; the Mixer authors (timm PR #651) and timm's docstring say it "
              "is the ImageNet-1k model, hence goog_in1k here")
_MIIL = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), interpolation="bilinear",
             preprocessing_source="timm's mixer_b16_224.miil cfg (MIIL: mean 0, std 1, bilinear, crop 0.875)")

default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_mixer_s32.gsam_in1k": _cfg(
        "Mixer-S/32", "timm mixer_s32_224", top1=68.6, **_bucket("gsam", "Mixer-S_32.npz")),
    "mlpv_mixer_s16.gsam_in1k": _cfg(
        "Mixer-S/16", "timm mixer_s16_224", top1=75.0, **_bucket("gsam", "Mixer-S_16.npz")),
    "mlpv_mixer_b32.gsam_in1k": _cfg(
        "Mixer-B/32", "timm mixer_b32_224 (= official JAX)", top1=73.6, **_bucket("gsam", "Mixer-B_32.npz")),
    "mlpv_mixer_b32.sam_in1k": _cfg(
        "Mixer-B/32", "timm mixer_b32_224 (= official JAX)", top1=72.4, **_bucket("sam", "Mixer-B_32.npz")),
    "mlpv_mixer_b16.goog_in1k": _cfg(
        "Mixer-B/16", "timm mixer_b16_224 (= official JAX)", top1=76.44, top1_timm=76.616,
        top1_source="Mixer paper Table 3 (ImageNet, no extra data)",
        **_timm_hub("mixer_b16_224.goog_in21k_ft_in1k", notes=(_IN1K_NOTE,))),
    "mlpv_mixer_b16.goog_in21k": _cfg(
        "Mixer-B/16", "timm mixer_b16_224 (= official JAX)", num_classes=21843,
        top1_source="ImageNet-21k classifier: no ImageNet-1k top-1", **_timm_hub("mixer_b16_224.goog_in21k")),
    "mlpv_mixer_b16.miil_in21k_ft_in1k": _cfg(
        "Mixer-B/16", "timm mixer_b16_224 (= official JAX)", top1_timm=82.314,
        top1_source="MIIL's figure not transcribed here; timm measured it",
        **{**_timm_hub("mixer_b16_224.miil_in21k_ft_in1k"), **_MIIL}),
    "mlpv_mixer_b16.miil_in21k": _cfg(
        "Mixer-B/16", "timm mixer_b16_224 (= official JAX)", num_classes=11221,
        top1_source="ImageNet-21k-P classifier: no ImageNet-1k top-1",
        **{**_timm_hub("mixer_b16_224.miil_in21k"), **_MIIL}),
    "mlpv_mixer_l32.untrained": _cfg("Mixer-L/32", "timm mixer_l32_224"),
    "mlpv_mixer_l16.goog_in1k": _cfg(
        "Mixer-L/16", "timm mixer_l16_224 (= official JAX)", top1=71.76, top1_timm=72.084,
        top1_source="Mixer paper Table 3 (ImageNet, no extra data)",
        **_timm_hub("mixer_l16_224.goog_in21k_ft_in1k", notes=(_IN1K_NOTE,))),
    "mlpv_mixer_l16.goog_in21k": _cfg(
        "Mixer-L/16", "timm mixer_l16_224 (= official JAX)", num_classes=21843,
        top1_source="ImageNet-21k classifier: no ImageNet-1k top-1", **_timm_hub("mixer_l16_224.goog_in21k")),
    "mlpv_mixer_h14.untrained": _cfg(
        "Mixer-H/14", "timm MlpMixer(patch 14; 32 blocks; dim 1280; mlp_ratio (0.5;4))"),
}))


@register_model
def mlpv_mixer_s32(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-S/32 (paper Table 1): 8 blocks, C 512, patch 32."""
    return _create_mixer("mlpv_mixer_s32", pretrained, dict(patch_size=32, depth=8, embed_dim=512), **kwargs)


@register_model
def mlpv_mixer_s16(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-S/16 (paper Table 1): 8 blocks, C 512, patch 16."""
    return _create_mixer("mlpv_mixer_s16", pretrained, dict(patch_size=16, depth=8, embed_dim=512), **kwargs)


@register_model
def mlpv_mixer_b32(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-B/32 (paper Table 1): 12 blocks, C 768, patch 32."""
    return _create_mixer("mlpv_mixer_b32", pretrained, dict(patch_size=32, depth=12, embed_dim=768), **kwargs)


@register_model
def mlpv_mixer_b16(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-B/16 (paper Table 1): 12 blocks, C 768, patch 16."""
    return _create_mixer("mlpv_mixer_b16", pretrained, dict(patch_size=16, depth=12, embed_dim=768), **kwargs)


@register_model
def mlpv_mixer_l32(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-L/32 (paper Table 1): 24 blocks, C 1024, patch 32."""
    return _create_mixer("mlpv_mixer_l32", pretrained, dict(patch_size=32, depth=24, embed_dim=1024), **kwargs)


@register_model
def mlpv_mixer_l16(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-L/16 (paper Table 1): 24 blocks, C 1024, patch 16."""
    return _create_mixer("mlpv_mixer_l16", pretrained, dict(patch_size=16, depth=24, embed_dim=1024), **kwargs)


@register_model
def mlpv_mixer_h14(pretrained: bool = False, **kwargs) -> MlpMixer:
    """Mixer-H/14 (paper Table 1): 32 blocks, C 1280, patch 14."""
    return _create_mixer("mlpv_mixer_h14", pretrained, dict(patch_size=14, depth=32, embed_dim=1280), **kwargs)

