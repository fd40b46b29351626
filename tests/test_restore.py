"""`demoe restore` and the fused-by-default inference path of loaded models."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import CONFORMANCE
from PIL import Image

from demoe.cli import main
from demoe.models.checkpoint import load_model
from demoe.models.fuse import FusedNAFBlock, fused_copy
from demoe.models.tlc import apply_tlc
from demoe.restore import DEPTH_MAX, read_any_depth, read_with_alpha

CHECKPOINT = CONFORMANCE / "demoe_small_published_layout.pth"


def eager(model: torch.nn.Module, x: torch.Tensor, **kwargs) -> torch.Tensor:
    return type(model).forward(model, x, **kwargs)


def test_loaded_model_takes_the_fused_path_in_eval_mode_and_matches_eager(conformance):
    model = load_model(CHECKPOINT)
    x = torch.from_numpy(conformance["expected"]["input"])
    with torch.inference_mode():
        fast = model(x)
        assert any(isinstance(m, FusedNAFBlock) for m in fused_copy(model).modules())
        torch.testing.assert_close(fast, eager(model, x), atol=1e-4, rtol=0)
        torch.testing.assert_close(
            fast, torch.from_numpy(conformance["expected"]["output_auto"]), atol=1e-4, rtol=0
        )
        torch.testing.assert_close(
            model(x, task="low_light"), eager(model, x, task="low_light"), atol=1e-4, rtol=0
        )
    assert not any(isinstance(m, FusedNAFBlock) for m in model.modules())  # original intact


def test_training_mode_and_parameter_gradients_stay_eager():
    model = load_model(CHECKPOINT).train()
    x = torch.rand(2, 3, 32, 32)
    model(x, task="defocus").mean().backward()
    grads = [p.grad for p in model.experts[0].experts[0].parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()  # eval with grad enabled and trainable parameters: still eager, grads flow
    model.zero_grad()
    model(x, task="defocus").mean().backward()
    assert model.intro.weight.grad is not None


def test_fused_copy_is_rebuilt_after_parameter_and_tlc_changes():
    model = load_model(CHECKPOINT)
    x = torch.rand(1, 3, 96, 128)
    with torch.inference_mode():
        before = model(x, task="defocus")
    with torch.no_grad():
        model.ending.bias.add_(0.25)  # an optimiser step, load_state_dict...
    with torch.inference_mode():
        after = model(x, task="defocus")
        torch.testing.assert_close(after, before + 0.25, atol=1e-4, rtol=0)
        apply_tlc(model, train_size=16)
        torch.testing.assert_close(
            model(x, task="defocus"), eager(model, x, task="defocus"), atol=1e-4, rtol=0
        )
        assert not torch.allclose(model(x, task="defocus"), after, atol=1e-3)


def write_png(path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "in"
    write_png(root / "a.png", rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    write_png(root / "b.png", rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    write_png(root / "sub" / "deep16.png", rng.integers(0, 65536, (33, 47, 3), dtype=np.uint16))
    write_png(root / "grey.png", rng.integers(0, 256, (24, 24), dtype=np.uint8))
    (root / "notes.txt").write_text("not an image")
    return root


def test_restore_a_folder_keeps_names_and_bit_depth(folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(folder), "--model", str(CHECKPOINT), "--out", str(out), "--device", "cpu"]
    assert main(["restore", *args, "--task", "defocus", "--quiet"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "b.png", "grey.png", "sub/deep16.png"]
    deep = cv2.imread(str(out / "sub/deep16.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (33, 47, 3)
    assert cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    # The written pixels are the model's output, rounded at the input's bit depth.
    model = load_model(CHECKPOINT)
    chw, depth = read_any_depth(folder / "sub/deep16.png")
    with torch.inference_mode():
        expected = model(torch.from_numpy(chw)[None], task="defocus")[0].clamp(0, 1).numpy()
    got, _ = read_any_depth(out / "sub/deep16.png")
    assert depth == 16 and np.abs(got - expected).max() <= 1 / 65535 + 1e-6
    # A rerun skips the complete outputs (resume); --overwrite redoes them; an input is
    # never written over, not even with --overwrite (output folder = input).
    capsys.readouterr()
    inode = (out / "a.png").stat().st_ino
    assert main(["restore", *args, "--quiet"]) == 0
    assert "skipping 4 image(s) already restored" in capsys.readouterr().out
    assert (out / "a.png").stat().st_ino == inode
    same = [str(folder), "--model", str(CHECKPOINT), "--out", str(folder), "--quiet"]
    before = (folder / "a.png").read_bytes()
    for overwrite in ([], ["--overwrite"]):
        assert main(["restore", *same, *overwrite]) == 2
        assert "4 output(s) would replace their input" in capsys.readouterr().err
    assert (folder / "a.png").read_bytes() == before
    assert main(["restore", *args, "--quiet", "--overwrite"]) == 0
    assert (out / "a.png").stat().st_ino != inode


def test_restore_router_tiled_and_tlc(folder, tmp_path, capsys):
    def restore(out: str, *options: str) -> int:
        model = ["--model", str(CHECKPOINT), "--quiet"]
        return main(
            ["restore", str(folder / "a.png"), *model, "--out", str(tmp_path / out), *options]
        )

    assert (
        restore("tiled", "--tile", "32", "--overlap", "16", "--tlc", "--tlc-train-size", "16") == 0
    )
    assert cv2.imread(str(tmp_path / "tiled/a.png")).shape == (40, 56, 3)
    assert restore("refused", "--tile", "32", "--tlc") == 2  # default overlap 16 px
    assert "TLC window 576 px" in capsys.readouterr().err
    assert not (tmp_path / "refused/a.png").exists()
    assert (
        main(["restore", str(tmp_path / "nope.png"), "--model", str(CHECKPOINT), "--out", "x"]) == 2
    )
    assert "not an image or a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("dtype", "grey"), [(np.uint8, False), (np.uint16, False), (np.uint8, True)]
)
def test_restore_keeps_the_alpha_channel(tmp_path, dtype, grey):
    """RGBA (and grey + alpha) in: the RGB is restored, the alpha comes back bit for bit."""
    rng = np.random.default_rng(1)
    top = np.iinfo(dtype).max
    colour = rng.integers(0, top + 1, (36, 44, 1 if grey else 3), dtype=dtype)
    alpha = rng.integers(0, top + 1, (36, 44), dtype=dtype)
    alpha[:, :10] = 0  # a fully transparent border, as cut-outs have
    source = tmp_path / "in" / "cutout.png"
    if grey:  # PNG grey + alpha through Pillow (OpenCV writes no 2-channel PNG)
        source.parent.mkdir(parents=True)
        Image.fromarray(np.dstack([colour[..., 0], alpha]), mode="LA").save(source)
    else:
        write_png(source, np.dstack([colour, alpha]))
    chw, depth, read_alpha = read_with_alpha(source)
    np.testing.assert_array_equal(read_alpha, alpha)
    out = tmp_path / "out"
    args = [str(source), "--model", str(CHECKPOINT), "--out", str(out), "--task", "defocus"]
    assert main(["restore", *args, "--quiet"]) == 0
    written = cv2.imread(str(out / "cutout.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == dtype and written.shape == (36, 44, 4)
    np.testing.assert_array_equal(written[..., 3], alpha)
    # The colour is the model's output, as for an image without alpha.
    model = load_model(CHECKPOINT)
    with torch.inference_mode():
        expected = model(torch.from_numpy(chw)[None], task="defocus")[0].clamp(0, 1).numpy()
    got = written[..., 2::-1].transpose(2, 0, 1) / DEPTH_MAX[depth]
    assert np.abs(got - expected).max() <= 1 / DEPTH_MAX[depth] + 1e-6
