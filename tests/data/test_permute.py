"""--permute: one fixed permutation, the same for every image, undone by its inverse; the paper's two kinds."""

import pytest
import torch

from mlpvision.data.permute import FixedPermutation, pixel_order


def test_the_same_permutation_moves_every_image_and_is_undone():
    images = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for kind in ("patch", "pixel"):
        permutation = FixedPermutation(kind, 8, 8, patch=4, seed=7)
        one_by_one = torch.stack([permutation(image) for image in images])
        torch.testing.assert_close(permutation(images), one_by_one, rtol=0, atol=0)
        assert not torch.equal(one_by_one, images)
        torch.testing.assert_close(permutation.inverse(one_by_one), images, rtol=0, atol=0)
        # every channel of a pixel moves together
        channels = torch.arange(64.0).reshape(1, 8, 8) + torch.tensor([0.0, 100, 200]).reshape(3, 1, 1)
        moved = permutation(channels)
        torch.testing.assert_close(moved - moved[:1], channels - channels[:1], rtol=0, atol=0)


def test_patch_permutation_moves_whole_tiles_and_shuffles_inside_them_alike():
    image = torch.arange(16.0).reshape(1, 4, 4)  # 2x2 tiles: [0,1,4,5] [2,3,6,7] [8,9,12,13] [10,11,14,15]
    out = FixedPermutation("patch", 4, 4, patch=2, seed=3)(image)[0]
    tiles = [out[r:r + 2, c:c + 2].flatten() for r in (0, 2) for c in (0, 2)]
    originals = {tuple(sorted(t.tolist())): t for t in image[0].reshape(2, 2, 2, 2).permute(0, 2, 1, 3).reshape(4, 4)}
    assert sorted(tuple(sorted(t.tolist())) for t in tiles) == sorted(originals)  # tiles stay whole
    # inside each tile, the same order of the tile's own pixels (top-left, top-right, bottom-left, bottom-right)
    orders = {tuple(torch.argsort(torch.argsort(t)).tolist()) for t in tiles}
    assert len(orders) == 1


def test_seeds_draw_different_permutations_and_bad_input_is_explained():
    assert not torch.equal(pixel_order("pixel", 8, 8, None, 0), pixel_order("pixel", 8, 8, None, 1))
    assert torch.equal(pixel_order("patch", 8, 8, 2, 5), pixel_order("patch", 8, 8, 2, 5))
    assert sorted(pixel_order("patch", 8, 8, 2, 5).tolist()) == list(range(64))
    with pytest.raises(ValueError, match="--permute patch needs a patch size that divides the 8x8 input, got 3"):
        pixel_order("patch", 8, 8, 3, 0)
    with pytest.raises(ValueError, match="--permute must be one of patch, pixel"):
        pixel_order("rows", 8, 8, 2, 0)
    with pytest.raises(ValueError, match="drawn for 8x8 images, got 4x4"):
        FixedPermutation("pixel", 8, 8)(torch.zeros(3, 4, 4))
