"""Layout adapters and the AIO-Blur build on fake trees in each published layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demoe.data import layouts
from demoe.data.build import (
    BalanceConfig,
    build_aioblur,
    build_from_config,
    resolve_roots,
    scan_dataset,
)
from demoe.data.manifest import read_manifest
from demoe.errors import ConfigError, DataError


def img(path: Path, size: tuple[int, int] = (8, 6), value: int = 128) -> Path:
    """Write a small RGB PNG of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def pair(blurry: Path, sharp: Path, value: int = 100) -> None:
    img(blurry, value=value)
    img(sharp, value=value + 50)


def make_gopro(root: Path, n: dict[str, int]) -> None:
    for split, count in n.items():
        for i in range(count):
            seq = root / split / f"GOPR{i // 2:04d}_00"
            pair(seq / "blur" / f"{i:06d}.png", seq / "sharp" / f"{i:06d}.png")
            img(seq / "blur_gamma" / f"{i:06d}.png")


def make_two_folders(root, n, train, test, blurry, sharp, nested=False, values=None):
    for split, count in n.items():
        base = root / (train if split == "train" else test)
        for i in range(count):
            name = f"{i // 3:04d}/{i:04d}.png" if nested else f"{i:04d}.png"
            v = 100 if values is None else values[i]
            pair(base / blurry / name, base / sharp / name, value=v)


def make_realblur(root: Path, n: dict[str, int]) -> None:
    for split, count in n.items():
        lines = []
        for i in range(count):
            scene = f"RealBlur-J_ECC_IMCORR_centroid_itensity_ref/scene{i:03d}"
            pair(root / scene / "blur" / "blur_1.png", root / scene / "gt" / "gt_1.png")
            lines.append(f"{scene}/gt/gt_1.png {scene}/blur/blur_1.png\n")
        (root / f"RealBlur_J_{split}_list.txt").write_text("".join(lines))


def make_aioblur(root: Path, scale: int = 1) -> dict[str, Path]:
    """All eight datasets, each in its published layout, under ``root``."""
    roots = resolve_roots(root)
    make_gopro(roots["gopro"], {"train": 4 * scale, "test": 2})
    make_realblur(roots["realblur_j"], {"train": 6 * scale, "test": 2})
    make_two_folders(
        roots["reloblur"], {"train": 3 * scale, "test": 2}, "train", "test", "blur", "gt"
    )
    # LOLBlur MSEs: value v vs v+50 is a constant 50/255 difference; vary it per pair instead.
    make_lolblur(roots["lolblur"], 12 * scale)
    make_two_folders(
        roots["dpdd"], {"train": 2 * scale, "test": 2}, "train_c", "test_c", "source", "target"
    )
    img(roots["dpdd"] / "val_c" / "source" / "v.png")
    make_two_folders(roots["realdof"], {"train": 2}, ".", ".", "source", "target")
    make_two_folders(roots["rsblur"], {"train": 2}, ".", ".", "blur", "gt")
    img(roots["real_lolblur"] / "a.png")
    img(roots["real_lolblur"] / "b.jpg")
    img(roots["real_lolblur"] / "RealBlur_subset" / "c.png")
    return roots


def make_lolblur(root: Path, n_train: int) -> None:
    for split, count in (("train", n_train), ("test", 2)):
        for i in range(count):
            name = f"{i // 5:04d}/{i:04d}.png"
            img(root / split / "low_blur_noise" / name, value=10)
            img(root / split / "high_sharp_scaled" / name, value=10 + 2 * i)


def test_gopro_pairs_by_sequence_and_ignores_blur_gamma(tmp_path):
    make_gopro(tmp_path, {"train": 5, "test": 1})
    found = layouts.gopro(tmp_path, "train")
    assert len(found.pairs) == 5
    assert all(
        p.blurry.parent.name == "blur" and p.sharp.parent.name == "sharp" for p in found.pairs
    )
    assert found.problems.total == 0
    assert len(layouts.gopro(tmp_path, "test").pairs) == 1


def test_missing_partner_extra_and_size_mismatch_are_counted(tmp_path):
    base = tmp_path / "train"
    for i in range(4):
        pair(base / "blur" / f"{i}.png", base / "gt" / f"{i}.png")
    (base / "gt" / "0.png").unlink()  # blurry without sharp
    img(base / "gt" / "extra.png")  # sharp without blurry
    img(base / "gt" / "1.png", size=(9, 6))  # size mismatch
    (base / "blur" / "2.png").write_bytes(b"not a png")  # corrupt
    (tmp_path / "train" / "mask").mkdir()
    found = layouts.reloblur(tmp_path, "train")
    assert [p.blurry.name for p in found.pairs] == ["3.png"]
    assert dict(found.problems.counts) == {
        "missing_sharp": 1,
        "missing_blurry": 1,
        "size_mismatch": 1,
        "unreadable": 1,
    }
    assert found.problems.examples["unreadable"][0].startswith(str(base / "blur" / "2.png"))


def test_lolblur_nested_sequences_match_by_relative_name(tmp_path):
    make_lolblur(tmp_path, 7)
    (tmp_path / "train" / "high_sharp_scaled" / "0001" / "0006.png").unlink()
    found = layouts.lolblur(tmp_path, "train")
    assert len(found.pairs) == 6
    assert found.problems.counts["missing_sharp"] == 1


def test_realblur_list_file_missing_file_and_bad_line(tmp_path):
    make_realblur(tmp_path, {"train": 3})
    with open(tmp_path / "RealBlur_J_train_list.txt", "a") as fh:
        fh.write("only_one_token.png\n\nmissing/gt.png missing/blur.png\n")
    found = layouts.realblur_j(tmp_path, "train")
    assert len(found.pairs) == 3
    assert found.pairs[0].sharp.name == "gt_1.png" and found.pairs[0].blurry.name == "blur_1.png"
    assert dict(found.problems.counts) == {"bad_line": 1, "missing_blurry": 1}
    missing = layouts.realblur_j(tmp_path, "test")
    assert missing.pairs == [] and missing.problems.counts["missing_list_file"] == 1


def test_rsblur_prefers_list_file(tmp_path):
    make_two_folders(tmp_path, {"train": 2}, ".", ".", "blur", "gt")
    assert len(layouts.rsblur(tmp_path, "test").pairs) == 2
    (tmp_path / "RSBlur_real_test.txt").write_text("gt/0000.png blur/0000.png\n")
    assert len(layouts.rsblur(tmp_path, "test").pairs) == 1


def test_real_lolblur_is_unpaired_and_excludes_realblur_subset(tmp_path):
    img(tmp_path / "a.png")
    img(tmp_path / "RealBlur" / "b.png")
    img(tmp_path / "realblur_c.png")
    found = layouts.real_lolblur(tmp_path, "test")
    assert [p.blurry.name for p in found.pairs] == ["a.png"]
    assert all(p.sharp is None for p in found.pairs)
    assert found.excluded == 2
    assert len(layouts.real_lolblur(tmp_path, "test", exclude=()).pairs) == 3


def test_generic_pairs_adapter_folders_and_list(tmp_path):
    make_two_folders(tmp_path, {"train": 3}, ".", ".", "in", "gt")
    assert len(layouts.pairs(tmp_path, "test", blurry="in", sharp="gt").pairs) == 3
    (tmp_path / "l.txt").write_text("gt/0000.png in/0000.png\n")
    assert len(layouts.pairs(tmp_path, "test", list_file="l.txt").pairs) == 1


def test_layout_override_and_unknown_key(tmp_path):
    make_two_folders(tmp_path, {"train": 2, "test": 1}, "tr", "te", "B", "S")
    found = scan_dataset(
        "reloblur", tmp_path, {"train": "tr", "test": "te", "blurry": "B", "sharp": "S"}
    )
    assert (len(found["train"].pairs), len(found["test"].pairs)) == (2, 1)
    with pytest.raises(ConfigError, match=r"data.layouts.reloblur: unknown keys \['blur'\]"):
        scan_dataset("reloblur", tmp_path, {"blur": "x"})


def test_build_aioblur_manifests_counts_and_report(tmp_path):
    roots = make_aioblur(tmp_path / "data")
    out = tmp_path / "out"
    report = build_aioblur(roots, out)
    train = read_manifest(out / "aioblur_train.jsonl")
    by_ds = {}
    for r in train:
        by_ds[r.dataset] = by_ds.get(r.dataset, 0) + 1
    # scale mode: realblur kept, reloblur x2 (4018/2010), gopro x2, dpdd x11, lolblur x0.41
    assert by_ds == {"dpdd": 22, "realblur_j": 6, "reloblur": 6, "gopro": 8, "lolblur": 5}
    assert len(read_manifest(out / "aioblur_test.jsonl")) == 10
    ood = read_manifest(out / "aioblur_ood.jsonl")
    assert sorted({r.dataset for r in ood}) == ["real_lolblur", "realdof", "rsblur"]
    unpaired = [r for r in ood if r.dataset == "real_lolblur"]
    assert len(unpaired) == 2 and all(r.sharp is None and r.split == "test" for r in unpaired)
    assert all(r.task == "synth_global_motion" for r in train if r.dataset == "gopro")
    saved = json.loads((out / "build_report.json").read_text())
    assert saved == report
    lol = saved["datasets"]["lolblur"]["balance"]
    assert lol["action"] == "mse_bins" and lol["original"] == 12 and lol["final"] == 5
    assert saved["datasets"]["real_lolblur"]["splits"]["test"]["excluded"] == 1
    assert saved["manifests"] == {"train": 47, "test": 10, "ood": 6}
    mse = (out / "mse_pairs.csv").read_text().splitlines()
    assert len(mse) == 13 and mse[0] == "dataset,blurry,sharp,mse,bin,selected"


def test_build_repetition_is_cyclic(tmp_path):
    roots = make_aioblur(tmp_path / "data")
    build_aioblur(roots, tmp_path / "out")
    dpdd = [
        r.blurry
        for r in read_manifest(tmp_path / "out" / "aioblur_train.jsonl")
        if r.dataset == "dpdd"
    ]
    assert len(set(dpdd)) == 2 and dpdd[:4] == [dpdd[0], dpdd[1], dpdd[0], dpdd[1]]


def test_absent_root_names_config_key_unless_optional(tmp_path):
    roots = make_aioblur(tmp_path / "data")
    roots["rsblur"] = tmp_path / "nowhere"
    with pytest.raises(DataError, match=r"data.roots.rsblur"):
        build_aioblur(roots, tmp_path / "out")
    assert not (tmp_path / "out" / "aioblur_train.jsonl").exists()
    report = build_aioblur(roots, tmp_path / "out", optional=["rsblur"])
    assert report["datasets"]["rsblur"]["status"] == "absent (optional)"


def test_empty_dataset_is_an_error_with_its_problems(tmp_path):
    roots = make_aioblur(tmp_path / "data")
    for p in (roots["dpdd"] / "test_c" / "target").iterdir():
        p.unlink()
    with pytest.raises(DataError, match=r"dpdd \(test\): no usable pairs.*missing_sharp"):
        build_aioblur(roots, tmp_path / "out")


def test_strict_fails_on_skipped_files(tmp_path):
    roots = make_aioblur(tmp_path / "data")
    img(roots["gopro"] / "train" / "GOPR0000_00" / "blur" / "orphan.png")
    report = build_aioblur(roots, tmp_path / "out")
    assert report["problems"] == {"total": 1, "counts": {"missing_sharp": 1}}
    with pytest.raises(DataError, match="strict"):
        build_aioblur(roots, tmp_path / "out2", strict=True)


def test_absolute_mode_uses_targets_as_given(tmp_path):
    roots = make_aioblur(tmp_path / "data")
    final = {"realblur_j": 6, "reloblur": 7, "gopro": 4, "dpdd": 5, "lolblur": 6}
    balance = BalanceConfig(mode="absolute", final=final)
    report = build_aioblur(roots, tmp_path / "out", balance=balance)
    got = {n: e["balance"]["final"] for n, e in report["datasets"].items() if "balance" in e}
    assert got == final


def test_build_from_config_relative_roots(tmp_path):
    make_aioblur(tmp_path / "data")
    (tmp_path / "data" / "GOPRO_Large").rename(tmp_path / "data" / "gopro_here")
    section = {"roots": {"gopro": "gopro_here"}, "balance": {"mode": "scale", "seed": 3}}
    report = build_from_config(section, tmp_path / "out", root=tmp_path / "data")
    assert report["datasets"]["gopro"]["root"] == str(tmp_path / "data" / "gopro_here")
    assert report["balance"]["seed"] == 3
    with pytest.raises(ConfigError, match="unknown datasets"):
        resolve_roots(tmp_path, {"hide": "HIDE"})
