"""The ImageNet-style data path on small folders written here: layouts, ImageNet's file quirks, the
official transforms' arithmetic, streaming through DataLoader workers, and upstream BN statistics."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image
from support.images import CLASSES, photo, write_image
from torch import nn

from ofa_deploy.data import ArraySource, as_source, load_dataset, open_source
from ofa_deploy.data import imagenet as imagenet_mod
from ofa_deploy.data.batches import eval_batches
from ofa_deploy.data.folder import index_folder
from ofa_deploy.data.imagenet import ImageFolderSource
from ofa_deploy.data.transforms import (
    TrainTransform,
    center_crop,
    eval_transform,
    random_resized_crop_params,
    resize_shorter,
)
from ofa_deploy.errors import DatasetError
from ofa_deploy.nn.bn import recalibrate_bn


@pytest.fixture
def folder(tmp_path):
    """3 classes x 4 train images (one grayscale, one CMYK, one PNG named .JPEG), 2 val images a class."""
    root = tmp_path / "imnet"
    for c, wnid in enumerate(CLASSES):
        for i in range(4):
            img = photo(10 * c + i, (64 + 8 * i, 48))
            kind = (c + i) % 4
            target = root / "train" / wnid / f"{wnid}_{i}.JPEG"
            if kind == 1:
                write_image(target, img.convert("L"))
            elif kind == 2:
                write_image(target, img.convert("CMYK"))
            elif kind == 3:
                write_image(target, img, "PNG")
            else:
                write_image(target, img)
        for i in range(2):
            write_image(root / "val" / wnid / f"val_{c}_{i}.JPEG", photo(100 + 10 * c + i, (40, 56)))
    (root / "train" / CLASSES[0] / "notes.txt").write_text("not an image")
    return root


def test_index_sorts_classes_and_files_and_reads_every_mode(folder):
    idx = index_folder(folder)
    assert idx.classes == CLASSES and idx.val_layout == "class folders"
    assert len(idx.train) == 12 and len(idx.val) == 6  # notes.txt is not an image
    assert [lbl for _, lbl in idx.train] == [0] * 4 + [1] * 4 + [2] * 4
    assert {Image.open(p).mode for p, _ in idx.train} == {"RGB", "L", "CMYK"}
    assert any(Image.open(p).format == "PNG" for p, _ in idx.train)
    src = ImageFolderSource(folder, val_size=3, workers=0)
    xs, ys = zip(*src.eval_batches("train", 32, batch_size=5))
    x = torch.cat(xs)
    assert x.shape == (9, 3, 32, 32) and x.dtype == torch.float32
    assert src.split_size("val") == 3 and src.split_size("test") == 6
    assert sorted(torch.cat(ys).tolist()) == sorted(lbl for _, lbl in src._samples("train"))


def test_grayscale_becomes_three_equal_channels(folder):
    gray = next(p for p, _ in index_folder(folder).train if Image.open(p).mode == "L")
    src = ImageFolderSource(folder, val_size=0, workers=0)
    i = [p for p, _ in src._samples("train")].index(gray)
    x = torch.cat([b for b, _ in src.eval_batches("train", 24)])[i]
    raw = x * torch.tensor([0.229, 0.224, 0.225])[:, None, None] + torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    assert torch.allclose(raw[0], raw[1], atol=1e-6) and torch.allclose(raw[1], raw[2], atol=1e-6)


def test_corrupt_image_is_named_or_skipped_and_counted(folder):
    bad = folder / "val" / CLASSES[1] / "val_broken.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    src = ImageFolderSource(folder, val_size=0, workers=0)
    with pytest.raises(DatasetError, match="val_broken.JPEG: cannot read this image"):
        list(src.eval_batches("test", 32))
    skipping = ImageFolderSource(folder, val_size=0, workers=0, skip_bad_images=True)
    n = sum(len(y) for _, y in skipping.eval_batches("test", 32, batch_size=4))
    assert n == 6 and skipping.skipped.count == 1 and skipping.skipped.examples == [str(bad)]


def test_truncated_jpeg_is_an_error_naming_the_file(folder):
    path = folder / "val" / CLASSES[0] / "val_0_0.JPEG"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match="val_0_0.JPEG"):
        list(ImageFolderSource(folder, val_size=0, workers=0).eval_batches("test", 32))


def _flatten_val(folder, labels_name: str, content) -> list[str]:
    names = []
    for wnid in CLASSES:
        for p in sorted((folder / "val" / wnid).iterdir()):
            p.rename(folder / "val" / p.name)
            names.append((p.name, wnid))
        (folder / "val" / wnid).rmdir()
    (folder / labels_name).write_text(content(names))
    return names


def test_flat_val_with_labels_txt(folder):
    names = _flatten_val(folder, "val/labels.txt", lambda ns: "".join(f"{n} {w}\n" for n, w in ns))
    idx = index_folder(folder)
    assert idx.val_layout == "flat, labels from labels.txt"
    assert sorted((p.split("/")[-1], lbl) for p, lbl in idx.val) == sorted((n, CLASSES.index(w)) for n, w in names)


def test_flat_val_with_kaggle_loc_val_solution(folder):
    def csv(ns):
        rows = [f"{n.rsplit('.', 1)[0]},{w} 1 2 30 40 {w} 5 6 7 8" for n, w in ns]
        return "ImageId,PredictionString\n" + "\n".join(rows) + "\n"

    names = _flatten_val(folder, "LOC_val_solution.csv", csv)
    idx = index_folder(folder)
    assert idx.val_layout == "flat, labels from LOC_val_solution.csv"
    assert {p.split("/")[-1]: lbl for p, lbl in idx.val} == {n: CLASSES.index(w) for n, w in names}


def test_flat_val_errors(folder):
    _flatten_val(folder, "val/unused.txt", lambda ns: "")
    with pytest.raises(DatasetError, match="need a labels file"):
        index_folder(folder)
    (folder / "val" / "labels.txt").write_text("val_0_0.JPEG n001\n")
    with pytest.raises(DatasetError, match=r"5 image\(s\) have no line"):
        index_folder(folder)
    (folder / "val" / "labels.txt").write_text("val_0_0.JPEG n001\nval_0_1.JPEG n999\n")
    with pytest.raises(DatasetError, match="labels.txt:2: 'n999' is not a class"):
        index_folder(folder)


def test_folder_errors(tmp_path, folder):
    with pytest.raises(DatasetError, match="expected an ImageNet-style folder"):
        index_folder(tmp_path / "nothing")
    (folder / "val" / "n777").mkdir()
    with pytest.raises(DatasetError, match="n777: class folder not in train/"):
        index_folder(folder)
    with pytest.raises(DatasetError, match="needs --data"):
        open_source("imagenet", None)


def test_resize_and_center_crop_follow_torchvision_rounding():
    img = Image.new("RGB", (500, 375))
    assert resize_shorter(img, 256).size == (341, 256)  # int(256 * 500 / 375) = 341
    assert resize_shorter(Image.new("RGB", (375, 500)), 256).size == (256, 341)
    assert resize_shorter(img, 375) is img
    ramp = Image.fromarray(np.tile(np.arange(341, dtype=np.uint16)[None, :] % 256, (256, 1)).astype(np.uint8))
    crop = np.asarray(center_crop(ramp, 224))
    assert crop[0, 0] == 58  # (341 - 224) / 2 = 58.5 -> round() -> 58, torchvision's offset
    assert eval_transform(img, 224).shape == (224, 224, 3)


def test_random_resized_crop_fits_and_falls_back_centrally():
    rng = np.random.default_rng(0)
    for _ in range(300):
        top, left, h, w = random_resized_crop_params(120, 80, rng)
        assert 0 < h and 0 < w and top >= 0 and left >= 0 and top + h <= 80 and left + w <= 120
    # A 1000 x 10 strip: no attempt fits, so the fallback crops the centre at the largest allowed ratio.
    assert random_resized_crop_params(1000, 10, rng, scale=(1.0, 1.0)) == (0, 493, 10, 13)
    assert random_resized_crop_params(10, 1000, rng, scale=(1.0, 1.0)) == (493, 0, 13, 10)


def test_train_transform_shape_determinism_and_flip():
    img = photo(3, (90, 70))
    t = TrainTransform()
    a = t(img, 48, np.random.default_rng([7, 1]))
    assert a.shape == (48, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, t(img, 48, np.random.default_rng([7, 1])))
    assert not np.array_equal(a, t(img, 48, np.random.default_rng([8, 1])))
    # scale (1, 1) on a square image: the whole image, only the flip is random.
    square, plain = photo(4, (64, 64)), TrainTransform(resize_scale=1.0, distort_color=False)
    whole = np.asarray(square.resize((32, 32), Image.BILINEAR))
    outs = [plain(square, 32, np.random.default_rng(s)) for s in range(16)]
    flipped = [np.array_equal(o, whole[:, ::-1]) for o in outs]
    assert all(f or np.array_equal(o, whole) for f, o in zip(flipped, outs)) and 0 < sum(flipped) < 16


def test_two_workers_give_the_same_batches_as_none(folder):
    one = ImageFolderSource(folder, val_size=2, workers=0)
    two = ImageFolderSource(folder, val_size=2, workers=2)
    for a, b in zip(one.eval_batches("train", 40, 4), two.eval_batches("train", 40, 4), strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ta = list(one.train_batches(4, [32, 40], epoch=1, seed=5))
    tb = list(two.train_batches(4, [32, 40], epoch=1, seed=5))
    assert len(ta) == 2 and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(ta, tb))
    assert {x.shape[-1] for x, _ in ta} <= {32, 40}
    other_epoch = list(one.train_batches(4, [32, 40], epoch=2, seed=5))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(ta, other_epoch))


def test_with_jax_loaded_workers_fork_from_a_server_that_has_imported_the_loader(folder, monkeypatch):
    """LiteRT's converter loads JAX, whose threads make fork unsafe: workers then start from a fork server. The
    server imports this loader (torch, Pillow) before it forks, so a worker does not import torch again (that
    took 1-2 s per worker and epoch); the batches are the same as without workers."""
    import multiprocessing.forkserver
    import types

    monkeypatch.setitem(sys.modules, "jax", types.ModuleType("jax"))
    ctx = imagenet_mod._worker_start()
    assert ctx is not None and ctx.get_start_method() == "forkserver"
    assert imagenet_mod.__name__ in multiprocessing.forkserver._forkserver._preload_modules  # no public reader
    one = ImageFolderSource(folder, val_size=2, workers=0)
    two = ImageFolderSource(folder, val_size=2, workers=2)
    for a, b in zip(one.eval_batches("train", 40, 4), two.eval_batches("train", 40, 4), strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    monkeypatch.delitem(sys.modules, "jax")
    assert imagenet_mod._worker_start() is None  # plain fork otherwise


def test_bn_batches_default_to_seeded_training_images(folder):
    src = ImageFolderSource(folder, val_size=2, workers=0)
    a = list(src.bn_batches(32, n_images=6, batch_size=4))
    b = list(src.bn_batches(32, n_images=6, batch_size=4))
    assert [len(x) for x in a] == [4, 2] and all(torch.equal(x, y) for x, y in zip(a, b))
    every = list(src.bn_batches(32, n_images=2000, batch_size=20, transform="eval"))
    assert len(every) == 1 and torch.equal(every[0], torch.cat([x for x, _ in src.eval_batches("train", 32)]))
    with pytest.raises(DatasetError, match="choose train or eval"):
        list(src.bn_batches(32, transform="test"))


def test_train_batches_shard_over_torchrun_ranks(folder, monkeypatch):
    src = ImageFolderSource(folder, val_size=2, workers=0)
    seen = {}

    def capture(rank):
        monkeypatch.setattr(imagenet_mod, "_dist_info", lambda: (rank, 2))
        monkeypatch.setattr(src, "_load", lambda split, order, *a, **k: iter([seen.setdefault(rank, list(order))]))
        list(src.train_batches(2, [32], epoch=3, seed=1))

    capture(0)
    capture(1)
    assert len(seen[0]) == len(seen[1]) == 5 and sorted(seen[0] + seen[1]) == list(range(10))


def test_recalibration_stores_biased_variance_weighted_by_batch_size():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)).eval()
    batches = [torch.randn(8, 2, 4, 4) * 2 + 1, torch.randn(2, 2, 4, 4) - 3]
    recalibrate_bn(model, batches)
    with torch.no_grad():
        feats = [model[0](b) for b in batches]
    means = [f.mean((0, 2, 3)) for f in feats]
    variances = [f.var((0, 2, 3), unbiased=False) for f in feats]
    bn = model[1]
    assert torch.allclose(bn.running_mean, (8 * means[0] + 2 * means[1]) / 10, atol=1e-5)
    assert torch.allclose(bn.running_var, (8 * variances[0] + 2 * variances[1]) / 10, atol=1e-5)
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 0 and not model.training
    torch_style = nn.BatchNorm2d(3, momentum=None).train()  # what recalibration did before: differs
    for f in feats:
        torch_style(f)
    assert not torch.allclose(torch_style.running_var, bn.running_var, atol=1e-3)


def test_array_source_keeps_the_in_memory_behaviour():
    splits = load_dataset("synthetic", seed=0)
    src = as_source(splits)
    assert isinstance(src, ArraySource) and as_source(src) is src and src.bn_transform == "eval"
    for a, (b, _) in zip(src.bn_batches(32, n_images=300), eval_batches(splits.val, splits, 32, 250, 300), strict=True):
        assert torch.equal(a, b)
    train = list(src.bn_batches(16, n_images=300, transform="train"))
    assert [len(x) for x in train] == [250, 50] and train[0].shape[-1] == 16
    sides = [x.shape[-1] for x, _ in src.train_batches(128, [16, 24], seed=1)]
    assert len(sides) == len(splits.train) // 128 and set(sides) <= {16, 24}


def test_unreadable_image_read_by_a_worker_is_one_clear_error(folder):
    (folder / "val" / CLASSES[2] / "val_zz.JPEG").write_bytes(b"GIF89a broken")
    with pytest.raises(DatasetError) as err:
        list(ImageFolderSource(folder, val_size=0, workers=2).eval_batches("test", 32, batch_size=2))
    assert str(err.value).startswith(str(folder / "val" / CLASSES[2] / "val_zz.JPEG"))
    assert "Traceback" not in str(err.value)


def test_distributed_recalibration_round_trips_its_statistics_through_all_reduce(tmp_path):
    import torch.distributed as dist

    torch.manual_seed(1)
    batches = [torch.randn(4, 2, 3, 3), torch.randn(6, 2, 3, 3)]
    local = recalibrate_bn(nn.Sequential(nn.BatchNorm2d(2)), batches)[0]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        shared = recalibrate_bn(nn.Sequential(nn.BatchNorm2d(2)), batches, distributed=True)[0]
    finally:
        dist.destroy_process_group()
    assert torch.allclose(local.running_mean, shared.running_mean) and torch.allclose(local.running_var, shared.running_var)
