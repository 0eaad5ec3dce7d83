"""The official label table and the Cityscapes loader on hand-written PNGs with known ids."""

from __future__ import annotations

import numpy as np
import torch

from nas.data import build_dataset
from nas.data.cityscapes import (
    ID_TO_TRAINID,
    KNOWN_ID,
    LABEL_TABLE,
    TRAIN_CLASSES,
    TRAIN_COLORS,
    colorize,
)


def test_table_has_the_official_19_train_classes() -> None:
    assert len(TRAIN_CLASSES) == 19
    assert TRAIN_CLASSES[0] == "road" and TRAIN_CLASSES[10] == "sky"
    assert TRAIN_CLASSES[13] == "car" and TRAIN_CLASSES[18] == "bicycle"
    assert TRAIN_COLORS.shape == (19, 3) and tuple(TRAIN_COLORS[0]) == (128, 64, 128)
    assert sorted(lb.id for lb in LABEL_TABLE if lb.id >= 0) == list(range(34))


def test_id_to_trainid_lookup() -> None:
    expected = {
        0: 255,
        1: 255,
        6: 255,
        7: 0,
        8: 1,
        9: 255,
        11: 2,
        17: 5,
        19: 6,
        20: 7,
        21: 8,
        23: 10,
        24: 11,
        25: 12,
        26: 13,
        27: 14,
        28: 15,
        29: 255,
        30: 255,
        31: 16,
        32: 17,
        33: 18,
    }
    for label_id, train_id in expected.items():
        assert ID_TO_TRAINID[label_id] == train_id, label_id
    assert ID_TO_TRAINID.shape == (256,)
    assert KNOWN_ID[33] and not KNOWN_ID[34] and not KNOWN_ID[255]


def test_colorize_uses_the_palette() -> None:
    rgb = colorize(np.array([[0, 13, 255]], np.uint8))
    assert rgb[0, 0].tolist() == [128, 64, 128]
    assert rgb[0, 1].tolist() == [0, 0, 142]
    assert rgb[0, 2].tolist() == [0, 0, 0]


def test_loader_maps_label_ids_to_train_ids(tiny_cityscapes) -> None:
    ds = build_dataset(str(tiny_cityscapes), "train")
    assert len(ds) == 2 and ds.num_classes == 19 and ds.ignore_index == 255
    assert ds.class_names[13] == "car"
    image, label = ds[0]  # sorted: aachen first
    assert image.dtype == torch.float32 and image.shape == (3, 8, 12)
    assert label.dtype == torch.int64 and label.shape == (8, 12)
    assert label[:, 0:3].eq(0).all() and label[:, 3:6].eq(13).all()
    assert label[:, 6:9].eq(18).all() and label[:, 9:12].eq(255).all()
    _, sky = ds[1]
    assert sky.eq(10).all()
    val = build_dataset(str(tiny_cityscapes), "val")
    assert len(val) == 1 and val[0][1].eq(2).all()


def test_image_is_imagenet_normalised(tiny_cityscapes) -> None:
    ds = build_dataset(str(tiny_cityscapes), "train")
    raw, _ = ds.load_raw(0)
    image, _ = ds[0]
    expected = (raw[0, 0, 0] / 255.0 - 0.485) / 0.229
    assert abs(image[0, 0, 0].item() - expected) < 1e-5


def test_center_crop_without_augmentation_pads_with_ignore(tiny_cityscapes) -> None:
    ds = build_dataset(str(tiny_cityscapes), "train", crop_hw=(10, 6))
    image, label = ds[0]
    assert image.shape == (3, 10, 6) and label.shape == (10, 6)
    assert label[0].eq(255).all() and label[-1].eq(255).all()  # one padded row top and bottom
    assert image[:, 0].abs().max() < 1e-6  # padding is the mean: 0 after normalisation
    assert label[1:9, 0:3].eq(13).all()  # centre columns 3..8 of the original
