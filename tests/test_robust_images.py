"""Corrupt and 16-bit images: the build decodes every image, skips and
counts bad files the same way in every dataset, 16-bit files are scaled to 8 bits, and
`demoe eval` scores the good images when one is bad."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demoe.data.build import build_aioblur, resolve_roots, scan_dataset
from demoe.data.images import ImageProblem, image_problem, read_uint8, write_image
from demoe.data.manifest import Record, read_manifest
from demoe.data.synthetic.writer import synth_aioblur
from demoe.eval.runner import evaluate, failures
from demoe.models import create_model
from demoe.tasks import AIO_BLUR, AIO_BLUR_OOD

DAMAGE = ("truncated", "zero_byte", "unreadable")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage(path: Path, kind: str) -> None:
    if kind == "truncated":
        _truncate(path)
    elif kind == "zero_byte":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"\x89PNG garbage, not an image")


def test_sixteen_bit_grey_is_scaled_not_white(tmp_path):
    values = np.array([[0, 255, 256, 0x8000], [0x80FF, 0xFF00, 0xFFFE, 0xFFFF]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    got = read_uint8(tmp_path / "g16.png")
    assert got.shape == (2, 4, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0], [[0, 0, 1, 128], [128, 255, 255, 255]])
    assert (got == got[..., :1]).all()


def test_sixteen_bit_colour_and_grey_share_one_scale(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 0x10000, (6, 5, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb[..., ::-1])  # 48-bit colour PNG
    Image.fromarray(rgb[..., 1]).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(read_uint8(tmp_path / "c16.png"), rgb >> 8)
    np.testing.assert_array_equal(read_uint8(tmp_path / "g16.png")[..., 0], rgb[..., 1] >> 8)


def test_float_pixels_are_refused_with_the_reason(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ImageProblem, match="floating-point") as err:
        read_uint8(tmp_path / "f.tif")
    assert err.value.kind == "unsupported"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("kind", DAMAGE)
def test_each_fault_has_its_kind(tmp_path, suffix, kind):
    path = tmp_path / f"x{suffix}"
    write_image(path, np.random.default_rng(0).random((64, 64, 3)))
    assert image_problem(path) is None
    _damage(path, kind)
    problem = image_problem(path)
    assert problem is not None and problem.kind == kind and str(path) in str(problem)


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "syn"
    synth_aioblur(root, scale="tiny", seed=3)
    return root


def test_build_skips_and_counts_bad_files_in_every_dataset(tiny_tree, tmp_path, capsys):
    root = tmp_path / "tree"
    shutil.copytree(tiny_tree, root)
    roots = resolve_roots(root)
    damaged, expected = {}, {}
    for i, name in enumerate((*AIO_BLUR, *AIO_BLUR_OOD)):
        kind = DAMAGE[i % len(DAMAGE)]
        victim = scan_dataset(name, roots[name])["test"].pairs[0].blurry
        _damage(victim, kind)
        damaged[name] = victim
        expected[kind] = expected.get(kind, 0) + 1
    lol_train = scan_dataset("lolblur", roots["lolblur"])["train"].pairs[1].sharp
    _truncate(lol_train)  # the MSE pass used to decode it and abort the whole build
    expected["truncated"] += 1
    sixteen = scan_dataset("gopro", roots["gopro"])["test"].pairs[1].sharp
    grey = np.asarray(Image.open(sixteen).convert("L"), np.uint16) * 257
    Image.fromarray(grey).save(sixteen)  # a 16-bit ground truth is kept, not skipped

    report = build_aioblur(roots, tmp_path / "out", workers=2)
    assert report["problems"]["counts"] == expected
    assert report["problems"]["total"] == sum(expected.values())
    # zero-byte and garbage files fail at the header check, truncated ones at decoding:
    # either way they are counted under the same kinds
    assert report["decode"]["bad"] == expected["truncated"]
    assert report["decode"]["images"] > 50
    assert f"decoded {report['decode']['images']} images fully" in capsys.readouterr().err
    listed = {
        p
        for split in ("train", "test", "ood")
        for r in read_manifest(tmp_path / "out" / f"aioblur_{split}.jsonl")
        for p in (r.blurry, r.sharp)
    }
    assert not {str(p) for p in [*damaged.values(), lol_train]} & listed
    assert str(sixteen) in listed
    for name, victim in damaged.items():
        split = report["datasets"][name]["splits"]["test"]["problems"]
        assert any(e.startswith(str(victim)) for ex in split["examples"].values() for e in ex)


def test_eval_scores_the_good_images_when_one_is_truncated(tmp_path):
    rng = np.random.default_rng(1)
    records = []
    for i in range(3):
        image = rng.random((16, 16, 3))
        write_image(tmp_path / f"b{i}.png", image)
        write_image(tmp_path / f"s{i}.png", image)
        records.append(
            Record(str(tmp_path / f"b{i}.png"), str(tmp_path / f"s{i}.png"), None, "gopro", "test")
        )
    _truncate(tmp_path / "b1.png")
    model = create_model("nafnet", width=4, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1)
    per_image, _ = evaluate(model, records, metrics=("psnr",))
    assert per_image["psnr"].notna().tolist() == [True, False, True]
    failed = failures(per_image)
    assert len(failed) == 1 and failed[0]["image"].endswith("b1.png")
    assert "truncated" in failed[0]["error"]
