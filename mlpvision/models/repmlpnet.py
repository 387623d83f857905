"""RepMLPNet: Hierarchical Vision MLP with Re-parameterized Locality (Ding et al., CVPR 2022),
https://arxiv.org/abs/2112.11081.

Official code: DingXiaoH/RepMLP @ 3eff13fa0257af28663880d870f327d665f0a8e2 (``repmlpnet.py``, MIT licence).
NCHW throughout. Stem: 4×4 conv, stride 4 (no bias) + BN + ReLU; between stages a 2×2 conv, stride 2 (no bias)
+ BN + ReLU; stages of C, 2C, 4C, 8C channels. Each block (``RepMLPNetUnit`` in the code, Fig. 2):
``y = x + RepMLPBlock(BN(x))``, ``z = y + FFN(BN(y))`` with FFN = 1×1 conv + BN → GELU → 1×1 conv + BN (no
biases), hidden 4·C; the RepMLP Block is ``layers.RepMlp`` with the stage's share-sets ``S`` and Local Perceptron
kernels 1 and 3, its FC3 sized for the stage's whole feature map at the built ``img_size``. Head: BN → mean →
linear. The paper (§4.2) describes the embeddings as plain convs and gives no Global Perceptron width; we follow
the code: BN + ReLU after every embedding conv, Global Perceptron hidden width C/4. The code has no stochastic
depth (a "TODO use droppath?" comment); ``drop_path_rate`` (default 0) adds it. No init code: PyTorch's defaults.

Inference form: ``timm.utils.reparameterize_model(model)`` (or ``reparameterize()`` on each ``RepMlp``) performs
Locality Injection, giving the official ``locality_injection()`` structure: FC3 with a bias, no FC3 BN, no convs.

Checkpoints: ours, training or inference form; the official layout (``conv_embedding.*``, ``stages.{s}.{b}.
repmlp_block.*``, ``embeds.{i}.*``, ``head_norm.*``; key names from ``repmlpnet.py`` at the commit above), both the
released training-form files and those saved after ``locality_injection()`` (the code's ``convert.py``). An
inference-form checkpoint is recognised by its ``fc3.bias`` keys: ``checkpoint_filter_fn`` then re-parameterises
the freshly built model before the strict load, so the loaded model is in inference form. The released files are
evaluated as the authors' test.py does: resized to the input size with no crop, bilinear (see the cfgs). A full
training checkpoint of their main_repmlp.py (utils.py:82-87: ``model``, optimizer, scheduler, ``ema``, the yacs
``config``) loads its ``model`` weights, read without running code.
"""

import re

import torch
from timm.models import generate_default_cfgs, register_model
from torch import nn

from ..layers import Grid, MetaFormerBlock
from ..layers.conv_embed import ConvEmbed
from ..layers.rep_mlp import RepMlp
from ._backbone import MlpBackbone, MlpStage, grid_of, stage_dims
from ._builder import IMAGENET_MEAN_STD, build_model, model_cfg
from ._download import google_drive_url
from ._weights import StateDict, register_weights, rename_keys


class ConvBnFfn(nn.Module):
    """RepMLPNet's FFN (Fig. 2): 1×1 conv + BN → GELU → 1×1 conv + BN, convs without bias."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(self.fc2(self.act(self.norm1(self.fc1(x)))))


def repmlpnet_block(
        dim: int,
        grid_size: Grid,
        drop_path: float,
        share_sets: int,
        local_kernel_sizes: tuple[int, ...] = (1, 3),
        mlp_ratio: int = 4,
) -> MetaFormerBlock:
    """A RepMLPNet unit: pre-BN residual RepMLP Block with ``share_sets`` share-sets, pre-BN residual FFN."""
    mixer = RepMlp(dim, grid_size, share_sets, local_kernel_sizes)
    return MetaFormerBlock(dim, mixer, ConvBnFfn(dim, mlp_ratio * dim), norm_layer=nn.BatchNorm2d, drop_path=drop_path)


def conv_bn_relu(in_dim: int, out_dim: int, stride: int) -> ConvEmbed:
    """The stem (stride 4) and the transitions (stride 2): ``stride×stride`` conv, stride ``stride``, BN, ReLU."""
    return ConvEmbed(in_dim, out_dim, stride, stride, bias=False, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU)


# ---- checkpoint layouts ------------------------------------------------------------------------------------

_OFFICIAL_RENAMES = (
    (re.compile(r"^conv_embedding\.conv\."), "stem.proj."),
    (re.compile(r"^conv_embedding\.bn\."), "stem.norm."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.prebn1\."), r"stages.\1.blocks.\2.norm1."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.prebn2\."), r"stages.\1.blocks.\2.norm2."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.repmlp_block\.gp\."), r"stages.\1.blocks.\2.token_mixer.global_perceptron."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.repmlp_block\.fc3_bn\."), r"stages.\1.blocks.\2.token_mixer.fc3_norm."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.repmlp_block\.fc3\."), r"stages.\1.blocks.\2.token_mixer.fc3."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.repmlp_block\.repconv(\d+)\."),
     r"stages.\1.blocks.\2.token_mixer.local_perceptron.conv\3."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.ffn_block\.ffn_fc(\d)\.conv\."), r"stages.\1.blocks.\2.mlp.fc\3."),
    (re.compile(r"^stages\.(\d+)\.(\d+)\.ffn_block\.ffn_fc(\d)\.bn\."), r"stages.\1.blocks.\2.mlp.norm\3."),
    (re.compile(r"^embeds\.(\d+)\.conv\."), lambda m: f"stages.{int(m[1]) + 1}.downsample.proj."),
    (re.compile(r"^embeds\.(\d+)\.bn\."), lambda m: f"stages.{int(m[1]) + 1}.downsample.norm."),
    (re.compile(r"^head_norm\."), "norm."),
)


def convert_official_layout(state: StateDict) -> StateDict:
    """The official ``RepMLPNet`` keys (training or inference form) → ours; the tensors are unchanged."""
    return rename_keys(state, _OFFICIAL_RENAMES, first_match=True)


def checkpoint_filter_fn(state: StateDict, model: nn.Module) -> StateDict:
    """Official layout (sentinel ``conv_embedding.conv.weight``) → ours; an inference-form checkpoint
    (``…token_mixer.fc3.bias`` keys) re-parameterises ``model`` in place so that the strict load fits."""
    if "conv_embedding.conv.weight" in state:
        state = convert_official_layout(state)
    if any(key.endswith("token_mixer.fc3.bias") for key in state):
        for module in model.modules():
            if isinstance(module, RepMlp):
                module.reparameterize()
    return state


# ---- the model --------------------------------------------------------------------------------------------


class RepMlpNet(MlpBackbone):
    """RepMLPNet: conv-BN-ReLU stem (4×4/4), four stages of RepMLPNet units joined by conv-BN-ReLU transitions
    (2×2/2), BatchNorm, mean over the grid, linear classifier; NCHW throughout.

    Args:
        depths: units per stage.
        embed_dim: the first stage's width C (stages C, 2C, 4C, 8C) ...
        embed_dims: ... unless the widths are given per stage.
        share_sets: per stage, the RepMLP Blocks' share-sets ``S``.
        local_kernel_sizes: the Local Perceptron's kernel sizes.
        img_size: the input size every stage's FC3 is sized for.
        in_chans, num_classes, global_pool, drop_rate: as ``MlpBackbone``.
        drop_path_rate: stochastic depth (the code has none; default 0), linear from 0 over all units.
    """

    checkpoint_filter = staticmethod(checkpoint_filter_fn)

    def __init__(
            self,
            depths: tuple[int, ...],
            share_sets: tuple[int, ...],
            embed_dim: int = 64,
            embed_dims: tuple[int, ...] | None = None,
            local_kernel_sizes: tuple[int, ...] = (1, 3),
            img_size: int | tuple[int, int] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = "avg",
            drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
    ) -> None:
        embed_dims = tuple(embed_dims or stage_dims(embed_dim, len(depths)))
        img_size, rates = self.check_pyramid(img_size, drop_path_rate, depths, embed_dims=embed_dims,
                                             share_sets=share_sets)
        stages = []
        for index, (depth, dim, sets) in enumerate(zip(depths, embed_dims, share_sets, strict=True)):
            stride = 1 if index == 0 else 2
            grid = grid_of(img_size, 4 * 2 ** index)
            blocks = [repmlpnet_block(dim, grid, next(rates), sets, tuple(local_kernel_sizes)) for _ in range(depth)]
            transition = conv_bn_relu(embed_dims[index - 1], dim, stride) if index > 0 else None
            stages.append(MlpStage(dim, blocks, transition, stride))
        super().__init__(
            stem=conv_bn_relu(in_chans, embed_dims[0], 4), stem_stride=4, stages=stages,
            norm=nn.BatchNorm2d(embed_dims[-1]), num_features=embed_dims[-1], img_size=img_size, in_chans=in_chans,
            num_classes=num_classes, global_pool=global_pool, drop_rate=drop_rate,
        )


def _create_repmlpnet(variant: str, pretrained: bool, variant_args: dict, **kwargs) -> RepMlpNet:
    """Build ``variant`` from its hyper-parameters; keyword arguments override them."""
    return build_model(RepMlpNet, variant, pretrained, default_out_indices=(0, 1, 2, 3), **{**variant_args, **kwargs})


_BAIDU = "Baidu mirror (code rmlp): https://pan.baidu.com/s/{}?pwd=rmlp"


def _cfg(paper_name: str, count_source: str, drive_id: str, baidu_id: str, img_size: int, top1: float,
         readme_line: int) -> dict:
    """The released training-form weights: a Google Drive file (README) and its Baidu mirror, evaluated as the
    authors' test.py does: ``load_weights`` takes checkpoint['model'] when present, else the bare state dict
    (utils.py:58-59, test.py:51), and the images are resized to the input side and centre-cropped to it, i.e. no
    crop, with torchvision's default bilinear (test.py:69-70; main_repmlp.py the same: data/build.py:187-188,
    config.py:34 bilinear, config.py:137 TEST.CROP False)."""
    return model_cfg(
        paper_name=paper_name, arxiv="2112.11081", code_url="https://github.com/DingXiaoH/RepMLP", license="mit",
        count_source=count_source, mean_std=IMAGENET_MEAN_STD, input_size=(3, img_size, img_size), feature_stride=32,
        crop_pct=1.0, interpolation="bilinear",
        url=google_drive_url(drive_id, f"{paper_name.replace('-', '_')}.pth"),
        notes=(f"parameter count source: {count_source}", _BAIDU.format(baidu_id)),
        weights_key="model", weights_key_source="RepMLP utils.py:58-59 (load_weights, called by test.py:51)",
        preprocessing_source="RepMLP test.py:69-70 (Resize(r), CenterCrop(r): no crop, bilinear); data/build.py:"
                             "187-188, config.py:34,137",
        top1=top1, top1_source=f"RepMLP README.md:{readme_line}", page=f"https://drive.google.com/file/d/{drive_id}/view",
    )


default_cfgs = generate_default_cfgs(register_weights({
    "mlpv_repmlpnet_t224.in1k": _cfg(
        "RepMLPNet-T224", "official create_RepMLPNet_T224", "1TgPDD78G-d3h_Y_vNTuqYdSJZHmnju7b",
        "1vDMl06wVUvkJgC7DOeleNA", 224, 76.62, 50),
    "mlpv_repmlpnet_b224.in1k": _cfg(
        "RepMLPNet-B224", "official create_RepMLPNet_B224", "1GwoUvxGXgzKArlCf0V9kvc9_3GtkGltp",
        "1MzkKTTzmOdOvtUCuRqwswA", 224, 80.32, 51),
    "mlpv_repmlpnet_t256.in1k": _cfg(
        "RepMLPNet-T256", "official create_RepMLPNet_T256", "1mU0L76x20eAKzkHxEM7J2BvEOLWx_mux",
        "1pALVZES9lVnjpXf20NxW3Q", 256, 77.44, 52),
    "mlpv_repmlpnet_b256.in1k": _cfg(
        "RepMLPNet-B256", "official create_RepMLPNet_B256", "1W-__gXE7903cX-gOSXEGxNBCJjvqFCiJ",
        "1GGqIOoVBAd3thaU5LoUtqQ", 256, 81.03, 53),
    "mlpv_repmlpnet_d256.in1k": _cfg(
        "RepMLPNet-D256", "official create_RepMLPNet_D256", "1e5IYac0UHnJq2_lzbuE7J4rahMENX2ha",
        "12PvSLGepMCCImr--D-RQvw", 256, 80.83, 54),
    "mlpv_repmlpnet_l256.in1k": _cfg(
        "RepMLPNet-L256", "official create_RepMLPNet_L256", "1SHhNJ6pZax9qMLm8DJZtQ_XfmcmddPYU",
        "1qz2JBUyYY6JEpnzFIdm-xQ", 256, 81.68, 55),
}))


@register_model
def mlpv_repmlpnet_t224(pretrained: bool = False, **kwargs) -> RepMlpNet:
    """RepMLPNet-T224 (paper Table 1): blocks [2, 2, 6, 2], C 64, share-sets [1, 4, 16, 128], 224²."""
    args = dict(depths=(2, 2, 6, 2), embed_dim=64, share_sets=(1, 4, 16, 128), img_size=224)
    return _create_repmlpnet("mlpv_repmlpnet_t224", pretrained, args, **kwargs)


@register_model
def mlpv_repmlpnet_b224(pretrained: bool = False, **kwargs) -> RepMlpNet:
    """RepMLPNet-B224 (paper Table 1): blocks [2, 2, 12, 2], C 96, share-sets [1, 4, 32, 128], 224²."""
    args = dict(depths=(2, 2, 12, 2), embed_dim=96, share_sets=(1, 4, 32, 128), img_size=224)
    return _create_repmlpnet("mlpv_repmlpnet_b224", pretrained, args, **kwargs)


@register_model
def mlpv_repmlpnet_t256(pretrained: bool = False, **kwargs) -> RepMlpNet:
    """RepMLPNet-T256 (paper Table 1): blocks [2, 2, 6, 2], C 64, share-sets [1, 4, 16, 128], 256²."""
    args = dict(depths=(2, 2, 6, 2), embed_dim=64, share_sets=(1, 4, 16, 128), img_size=256)
    return _create_repmlpnet("mlpv_repmlpnet_t256", pretrained, args, **kwargs)


@register_model
def mlpv_repmlpnet_b256(pretrained: bool = False, **kwargs) -> RepMlpNet:
    """RepMLPNet-B256 (paper Table 1): blocks [2, 2, 12, 2], C 96, share-sets [1, 4, 32, 128], 256²."""
    args = dict(depths=(2, 2, 12, 2), embed_dim=96, share_sets=(1, 4, 32, 128), img_size=256)
    return _create_repmlpnet("mlpv_repmlpnet_b256", pretrained, args, **kwargs)


@register_model
def mlpv_repmlpnet_d256(pretrained: bool = False, **kwargs) -> RepMlpNet:
    """RepMLPNet-D256 (paper Table 1): blocks [2, 2, 18, 2], C 80, share-sets [1, 4, 16, 128], 256²."""
    args = dict(depths=(2, 2, 18, 2), embed_dim=80, share_sets=(1, 4, 16, 128), img_size=256)
    return _create_repmlpnet("mlpv_repmlpnet_d256", pretrained, args, **kwargs)


@register_model
def mlpv_repmlpnet_l256(pretrained: bool = False, **kwargs) -> RepMlpNet:
    """RepMLPNet-L256 (paper Table 1): blocks [2, 2, 18, 2], C 96, share-sets [1, 4, 32, 256], 256²."""
    args = dict(depths=(2, 2, 18, 2), embed_dim=96, share_sets=(1, 4, 32, 256), img_size=256)
    return _create_repmlpnet("mlpv_repmlpnet_l256", pretrained, args, **kwargs)
