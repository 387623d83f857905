"""The network ViP, DynaMixer and CycleMLP share: one converter for the authors' ``network.{j}`` layout."""

import torch
from torch import nn

from mlpvision.models._permutator import convert_network_layout


def to_authors_layout(model: nn.Module) -> dict[str, torch.Tensor]:
    """Our state dict in the authors' layout: ``patch_embed``, then stage blocks and transitions interleaved in one
    ``network`` list (``network.{j}.{k}.attn`` for block k of a stage, ``network.{j}.proj`` for a transition)."""
    prefixes, index = {}, 0
    for stage_index, stage in enumerate(model.stages):
        if not isinstance(stage.downsample, nn.Identity):
            prefixes[f"stages.{stage_index}.downsample."] = f"network.{index}."
            index += 1
        prefixes[f"stages.{stage_index}.blocks."] = f"network.{index}."
        index += 1
    out = {}
    for key, value in model.state_dict().items():
        key = key.replace("stem.", "patch_embed.", 1) if key.startswith("stem.") else key
        for ours, theirs in prefixes.items():
            if key.startswith(ours):
                key = theirs + key.removeprefix(ours).replace(".token_mixer.", ".attn.")
        out[key] = value
    return out


def test_the_converter_inverts_the_authors_layout():
    from ..conftest import tiny_model

    for name in ("mlpv_vip_s7", "mlpv_dynamixer_m", "mlpv_cyclemlp_b1"):
        model = tiny_model(name)
        ours = model.state_dict()
        converted = convert_network_layout(to_authors_layout(model), model)
        assert converted.keys() == ours.keys()
        assert all(torch.equal(converted[key], ours[key]) for key in ours)
