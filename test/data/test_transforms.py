"""Resize with shorter/longer side limits and horizontal flip, applied jointly to image and id map."""
import numpy as np
import pytest
import torch

from panoptic_ros.config import DataConfig
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.data.targets import encode_targets
from panoptic_ros.data.transforms import RandomHorizontalFlip, ResizeShortestEdge, build_transforms, resized_shape


@pytest.mark.parametrize("hw, expected", [((480, 640), (576, 768)),      # shorter side -> 576
                                          ((100, 1000), (86, 864)),      # longer side capped at 864
                                          ((576, 864), (576, 864)),
                                          ((1000, 500), (864, 432))])
def test_resized_shape_defaults(hw, expected):
    cfg = DataConfig()
    assert resized_shape(*hw, cfg.min_size, cfg.max_size) == expected


def scene(h=40, w=60):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = 255
    ids = np.full((h, w), 5, np.int32)
    ids[10:20, 5:15] = 1000
    ids[25:35, 40:58] = 1001
    return img, ids


def test_resize_keeps_ids_and_aspect():
    img, ids = scene()
    out_img, out_ids = ResizeShortestEdge(80, 1000)(img, ids)
    assert out_img.shape == (80, 120, 3) and out_ids.shape == (80, 120) and out_img.dtype == np.uint8
    assert set(np.unique(out_ids)) == {5, 1000, 1001}
    assert (out_ids == 1000).sum() == 4 * (ids == 1000).sum()   # exact 2x nearest upscaling


def test_flip_mirrors_image_map_and_resulting_boxes():
    cats = CategoryMap([Category(1, "thing", True), Category(5, "stuff", False)])
    segs = [{"id": 5, "category_id": 5}, {"id": 1000, "category_id": 1}, {"id": 1001, "category_id": 1}]
    img, ids = scene()
    f_img, f_ids = RandomHorizontalFlip(1.0)(img, ids)
    assert (f_img[:, -1] == 255).all() and (f_img[:, 0] == 0).all()
    before = encode_targets(ids, segs, cats)["boxes"]
    after = encode_targets(f_ids, segs, cats)["boxes"]
    mirrored = torch.stack([60 - before[:, 2], before[:, 1], 60 - before[:, 0], before[:, 3]], 1)
    assert torch.equal(after, mirrored)
    same_img, same_ids = RandomHorizontalFlip(0.0)(img, ids)
    assert same_img is img and same_ids is ids


def test_random_flip_follows_the_torch_seed():
    img, ids = scene()
    t = RandomHorizontalFlip(0.5)
    torch.manual_seed(1)
    a = [int(t(img, ids)[0][0, 0, 0]) for _ in range(20)]
    torch.manual_seed(1)
    b = [int(t(img, ids)[0][0, 0, 0]) for _ in range(20)]
    assert a == b and set(a) == {0, 255}


def test_random_flip_flips_about_half_the_time():
    img, ids = scene()
    t = RandomHorizontalFlip(0.5)
    flipped = sum(bool(t(img, ids)[0][0, -1, 0] == 255) for _ in range(400))
    assert 140 < flipped < 260


def test_build_transforms_from_config():
    cfg = DataConfig(min_size=20, max_size=50, hflip=True)
    train, val = build_transforms(cfg, train=True), build_transforms(cfg, train=False)
    assert any(isinstance(x, RandomHorizontalFlip) for x in train.transforms)
    assert not any(isinstance(x, RandomHorizontalFlip) for x in val.transforms)
    img, ids = scene()
    out_img, out_ids = val(img, ids)
    assert out_img.shape[:2] == out_ids.shape == (20, 30)
    cfg.hflip = False
    assert not any(isinstance(x, RandomHorizontalFlip) for x in build_transforms(cfg).transforms)


def test_multi_scale_min_sizes_and_bad_sizes():
    img, ids = scene()
    t = ResizeShortestEdge([20, 30], 1000)
    shapes = {t(img, ids)[1].shape for _ in range(40)}
    assert shapes == {(20, 30), (30, 45)}
    with pytest.raises(ValueError, match="positive"):
        ResizeShortestEdge(0, 10)


def test_scale_jitter_and_crop_keep_image_and_ids_aligned_and_pad_with_void():
    import numpy as np
    import torch

    from panoptic_ros.data.transforms import RandomScaleCrop

    torch.manual_seed(0)
    image = np.zeros((40, 80, 3), np.uint8)
    ids = np.zeros((40, 80), np.int32)
    image[:, 40:] = 200
    ids[:, 40:] = 5                                   # right half: segment 5, bright pixels
    crop = RandomScaleCrop((0.5, 2.0), (32, 48))
    for _ in range(20):
        im, m = crop(image, ids)
        assert im.shape == (32, 48, 3) and m.shape == (32, 48)
        assert set(np.unique(m)) <= {0, 5}            # nearest resize: no new id
        bright, dark = im[..., 0] > 150, im[..., 0] < 50   # (bilinear pixels at the edge are in between)
        assert (m[bright] == 5).all() and (m[dark] == 0).all()   # aligned; the pad is black + void
        assert bright.sum() + dark.sum() >= 0.9 * m.size
    small = RandomScaleCrop((1.0, 1.0), (64, 100))(image, ids)[1]
    assert small.shape == (64, 100) and (small[40:] == 0).all() and (small[:, 80:] == 0).all()


@pytest.mark.parametrize("scale, crop", [((2.0, 1.0), (0, 0)), ((0.0, 1.0), (0, 0)), ((1.0, 1.0), (-1, 5))])
def test_bad_scale_or_crop_values_are_refused(scale, crop):
    from panoptic_ros.data.transforms import RandomScaleCrop

    with pytest.raises(ValueError, match="data\\."):
        RandomScaleCrop(scale, crop)


def test_build_transforms_adds_the_crop_only_when_configured():
    from panoptic_ros.config import DataConfig
    from panoptic_ros.data.transforms import RandomScaleCrop, build_transforms

    plain = build_transforms(DataConfig(), train=True)
    assert not any(isinstance(t, RandomScaleCrop) for t in plain.transforms)
    cfg = DataConfig(scale_jitter=[0.5, 2.0], crop_size=[64, 128])
    assert any(isinstance(t, RandomScaleCrop) for t in build_transforms(cfg, train=True).transforms)
    assert not any(isinstance(t, RandomScaleCrop) for t in build_transforms(cfg, train=False).transforms)
