"""`demoe restore` under hostile or unlucky input: concurrent runs into one folder,
damaged and odd inputs skipped and listed, resumed reruns, decompression bombs refused
from the header, bounded memory, odd file names, one-line errors."""

from __future__ import annotations

import contextlib
import errno
import io
import multiprocessing
import os
import pathlib
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import CONFORMANCE
from PIL import Image, ImageFile, ImageOps

from demoe import restore
from demoe.cli import main
from demoe.errors import DataError
from demoe.models import create_model
from demoe.models import tiling as tiling_module
from demoe.models.checkpoint import load_model
from demoe.models.tiling import estimated_bytes
from demoe.restore import (
    LOCK_NAME,
    ROUTING_CSV,
    Job,
    find_jobs,
    output_lock,
    plan_jobs,
    read_picture,
    restore_images,
)
from demoe.tasks import TASKS

CHECKPOINT = CONFORMANCE / "demoe_small_published_layout.pth"
MODEL = ["--model", str(CHECKPOINT), "--device", "cpu"]


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def noise(h: int, w: int, seed: int = 0, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top + 1, (h, w, channels), dtype=dtype)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes of PNG declaring ``width`` x ``height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(4096))) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def tiny_model() -> torch.nn.Module:
    model = create_model("nafnet", width=4, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1)
    return model.eval()


def restore_cli(*args: str | Path) -> int:
    return main(["restore", *MODEL, "--quiet", *map(str, args)])


# --- writers that cannot clobber each other ---------------------------------------------


def _run_and_report(argv: list[str], queue: multiprocessing.Queue, hold=None, go=None) -> None:
    """A child process: ``demoe restore argv``; with ``hold``/``go``, it sets ``hold`` once
    it holds the output lock and waits for ``go`` before restoring anything."""
    if hold is not None:
        real = restore.load_model

        def held_then_load(*args, **kwargs):
            hold.set()
            go.wait(120)
            return real(*args, **kwargs)

        restore.load_model = held_then_load
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    queue.put((rc, err.getvalue()))


def test_two_concurrent_runs_into_one_folder_never_overwrite(tmp_path):
    source = write_png(tmp_path / "in" / "a.png", noise(24, 32))
    out = tmp_path / "out"
    argv = ["restore", str(source), *MODEL, "--out", str(out), "--quiet"]
    # spawn, not fork: a forked child of a process whose torch thread pool already ran can
    # hang in its first parallel region
    ctx = multiprocessing.get_context("spawn")
    first_q, second_q = ctx.Queue(), ctx.Queue()
    hold, go = ctx.Event(), ctx.Event()
    first = ctx.Process(target=_run_and_report, args=(argv + ["-t", "defocus"], first_q, hold, go))
    second = ctx.Process(target=_run_and_report, args=(argv + ["-t", "low_light"], second_q))
    first.start()
    try:
        assert hold.wait(120), "the first run never took the lock"
        second.start()  # starts while the first holds the folder
        rc, err = second_q.get(timeout=120)
        assert rc == 2 and err.count("\n") == 1
        assert "another demoe restore is writing into" in err and LOCK_NAME in err
        assert not (out / "a.png").exists()
    finally:
        go.set()
        first_rc, first_err = first_q.get(timeout=300)
        first.join(60)
        second.join(60)
    assert first_rc == 0, first_err
    model = load_model(CHECKPOINT)
    with torch.inference_mode():
        x = torch.from_numpy(read_picture(source).chw)[None]
        expected = model(x, task="defocus")[0].clamp(0, 1).numpy()
    assert np.abs(read_picture(out / "a.png").chw - expected).max() <= 1 / 255 + 1e-6
    assert not (out / LOCK_NAME).exists()  # released and removed


def test_a_held_lock_refuses_and_is_released_by_the_holder(tmp_path):
    out = tmp_path / "out"
    with output_lock(out) as lock:
        assert lock.exists()
        with pytest.raises(DataError, match="another demoe restore"), output_lock(out):
            pass
        assert lock.exists()  # the refused run does not remove the holder's lock
    assert not lock.exists()
    with output_lock(out):
        pass


# --- resumable batches, inputs read as they are ------------------------------------------


def _multi_page_tiff(path: Path) -> Path:
    pages = [Image.fromarray(noise(16, 16, seed)) for seed in (1, 2)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path


def _truncated_jpeg(path: Path) -> Path:
    Image.fromarray(noise(48, 64, 3)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    return path


def test_unreadable_inputs_are_skipped_listed_and_a_rerun_resumes(tmp_path, capsys, monkeypatch):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # truncated files must raise, not pad grey
    root = tmp_path / "in"
    write_png(root / "a.png", noise(24, 32, 1))
    write_png(root / "b.png", noise(24, 32, 2))
    _truncated_jpeg(root / "c.jpg")
    _multi_page_tiff(root / "d.tif")
    png_header_only(root / "e.png", 20000, 20000)
    assert (root / "e.png").stat().st_size < 1000
    decoded = []
    real_decode = cv2.imdecode
    monkeypatch.setattr(
        cv2, "imdecode", lambda *a: decoded.append(a[0].tobytes()) or real_decode(*a)
    )
    out = tmp_path / "out"

    assert restore_cli(root, "--out", out, "-t", "defocus") == 2
    err = capsys.readouterr().err.splitlines()
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    skipped = {
        line.split(": ", 2)[1]: line for line in err if line.startswith("demoe restore: skipped ")
    }
    assert set(skipped) == {f"skipped {root / n}" for n in ("c.jpg", "d.tif", "e.png")}
    assert "truncated" in skipped[f"skipped {root / 'c.jpg'}"]
    assert "2 pages" in skipped[f"skipped {root / 'd.tif'}"]
    assert "20000x20000 px" in skipped[f"skipped {root / 'e.png'}"]
    assert err[-1].startswith("demoe restore: error: 3 input(s) skipped")
    assert (root / "e.png").read_bytes() not in decoded  # refused before decoding

    inodes = {n: (out / n).stat().st_ino for n in ("a.png", "b.png")}
    Image.fromarray(noise(48, 64, 3)).save(root / "c.jpg", quality=90)  # the user repairs it
    assert restore_cli(root, "--out", out, "-t", "defocus") == 2  # d and e still refused
    captured = capsys.readouterr()
    assert "skipping 2 image(s) already restored" in captured.out
    assert "2 input(s) skipped" in captured.err
    assert {n: (out / n).stat().st_ino for n in inodes} == inodes  # not rewritten
    assert cv2.imread(str(out / "c.jpg")).shape == (48, 64, 3)


def test_pixel_limit_is_checked_from_the_header(tmp_path, capsys, monkeypatch):
    small = write_png(tmp_path / "small.png", noise(24, 32))
    with pytest.raises(DataError, match=r"32x24 px \(768 pixels\) is more than --max-pixels 500"):
        read_picture(small, max_pixels=500)
    assert read_picture(small, max_pixels=768).chw.shape == (3, 24, 32)
    bomb = png_header_only(tmp_path / "bomb.png", 100000, 100000)
    with monkeypatch.context() as patch:  # no decoder may run on it

        def decoding(*args):
            raise AssertionError("decoded")

        patch.setattr(ImageFile.ImageFile, "load", decoding)
        patch.setattr(cv2, "imdecode", decoding)
        with pytest.raises(DataError, match="100000x100000 px"):
            read_picture(bomb)
    out = tmp_path / "out"
    assert restore_cli(bomb, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "100000x100000 px" in err and "Traceback" not in err
    assert not (out / "bomb.png").exists()


def test_inputs_are_read_as_they_display(tmp_path):
    rgb = noise(5, 7)
    path = tmp_path / "o.png"
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[274] = orientation
        Image.fromarray(rgb).save(path, exif=exif)
        with Image.open(path) as im:
            expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        picture = read_picture(path)
        assert picture.orientation == orientation
        got = (picture.chw.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        np.testing.assert_array_equal(got, expected)
    _multi_page_tiff(tmp_path / "pages.tif")
    with pytest.raises(DataError, match="pages.tif: 2 pages"):
        read_picture(tmp_path / "pages.tif")
    with pytest.raises(DataError, match="truncated"):
        read_picture(_truncated_jpeg(tmp_path / "cut.jpg"))


def test_deep_alpha_and_rotated_inputs_are_written_without_loss(tmp_path, capsys):
    root = tmp_path / "in"
    root.mkdir()
    deep = noise(20, 24, 4, dtype=np.uint16)
    (root / "deep.jpg").write_bytes(cv2.imencode(".png", deep)[1].tobytes())  # misnamed
    cutout = noise(20, 24, 5, channels=4)
    (root / "cutout.jpg").write_bytes(cv2.imencode(".png", cutout)[1].tobytes())
    exif = Image.Exif()
    exif[274] = 6  # shot in portrait: stored 24 wide, displayed 24 tall
    Image.fromarray(noise(16, 24, 6)).save(root / "portrait.jpg", exif=exif, quality=95)
    out = tmp_path / "out"
    assert restore_cli(root, "--out", out, "-t", "defocus") == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        "cutout.jpg.png",
        "deep.jpg.png",
        "portrait.jpg",
    ]
    written = cv2.imread(str(out / "deep.jpg.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (20, 24, 3)
    written = cv2.imread(str(out / "cutout.jpg.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(written[..., 3], cutout[..., 3])
    assert "cannot hold 16-bit samples; wrote deep.jpg.png" in err
    assert "cannot hold alpha; wrote cutout.jpg.png" in err
    assert "portrait.jpg: EXIF orientation 6 applied" in err
    assert cv2.imread(str(out / "portrait.jpg")).shape == (24, 16, 3)
    # a rerun knows the PNGs beside are those outputs
    assert plan_jobs(find_jobs([root], out)).todo == []


# --- bounded memory, linear planning -----------------------------------------------------


def test_batches_are_read_one_at_a_time(tmp_path, monkeypatch):
    jobs = [
        Job(
            write_png(tmp_path / "in" / f"{i}.png", noise(16, 16, i)), tmp_path / "out" / f"{i}.png"
        )
        for i in range(6)
    ]
    events: list[str] = []
    real_read, real_write = restore.read_picture, restore.write_depth
    monkeypatch.setattr(restore, "read_picture", lambda *a: events.append("r") or real_read(*a))
    monkeypatch.setattr(restore, "write_depth", lambda *a: events.append("w") or real_write(*a))
    outcome = restore_images(tiny_model(), jobs, batch_size=2, progress=False)
    assert len(outcome.records) == 6
    assert "".join(events) == "rrww" * 3


def test_memory_budget_counts_the_image_arrays(tmp_path, monkeypatch):
    model = tiny_model()
    job = Job(write_png(tmp_path / "big.png", noise(128, 160)), tmp_path / "out" / "big.png")
    tiled = []
    real = tiling_module.tiled_forward
    monkeypatch.setattr(
        tiling_module, "tiled_forward", lambda *a, **k: tiled.append(1) or real(*a, **k)
    )
    # the forward alone fits, the forward with the input and output arrays does not: tiled
    budget = estimated_bytes(model, 128, 160) + 1000
    outcome = restore_images(model, [job], budget_bytes=budget, progress=False)
    assert tiled == [1] and len(outcome.records) == 1
    # arrays alone beyond the budget: that image is skipped with the reason, not attempted
    outcome = restore_images(model, [job], budget_bytes=10_000, progress=False)
    assert outcome.records == [] and "memory budget" in outcome.failures[0][1]


def _count_calls(run) -> int:
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return calls


def test_planning_is_linear_in_the_number_of_files(tmp_path):
    def calls(n: int) -> int:
        root = tmp_path / f"in{n}"
        root.mkdir()
        for i in range(n):
            (root / f"{i:05d}.png").touch()  # planning reads no pixels
        return _count_calls(lambda: plan_jobs(find_jobs([root], tmp_path / f"out{n}")))

    small, large = calls(300), calls(1200)
    assert large < 6 * small, (small, large)  # 4x the files; quadratic would be ~16x


# --- names and places --------------------------------------------------------------------


def test_relative_and_hidden_parent_folders_are_searched(tmp_path, monkeypatch):
    cache = tmp_path / ".cache" / "x"
    write_png(cache / "img.png", noise(8, 8))
    write_png(cache / ".thumbs" / "t.png", noise(8, 8))  # hidden below the root: skipped
    write_png(cache / ".dot.png", noise(8, 8))
    write_png(tmp_path / "in" / "a.png", noise(8, 8))
    write_png(tmp_path / "in" / "restored" / "a.png", noise(8, 8))  # an earlier --out
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    jobs = find_jobs([cache, "../in"], "../in/restored")
    assert [(j.source.as_posix(), j.target.as_posix()) for j in jobs] == [
        (f"{cache}/img.png", "../in/restored/img.png"),
        ("../in/a.png", "../in/restored/a.png"),
    ]


def test_non_utf8_and_longest_names_are_restored(tmp_path):
    """In a subprocess: OpenCV's file reader used to crash on such a name."""
    root = os.fsencode(tmp_path / "in")
    os.mkdir(root)
    odd = b"caf\xe9-\xff.png"
    longest = b"l" * 245 + b".png"  # 249 bytes, as long as the staging folder allows
    for name in (odd, longest):
        with open(os.path.join(root, name), "wb") as fh:
            fh.write(cv2.imencode(".png", noise(12, 16))[1].tobytes())
    out = os.fsencode(tmp_path / "out")
    script = "import sys; from demoe.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", script, b"restore", root, b"--out", out, b"-t", b"defocus"]
    done = subprocess.run([*argv, *map(os.fsencode, MODEL)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert sorted(os.listdir(out)) == sorted([odd, longest])
    assert b"restored 2 image(s)" in done.stdout


# --- one-line errors ---------------------------------------------------------------------


def test_bad_options_and_a_full_disk_are_one_line_errors(tmp_path, capsys, monkeypatch):
    source = write_png(tmp_path / "a.png", noise(12, 16))
    (tmp_path / "taken").write_text("a user's file")

    def error_of(*args: str | Path) -> str:
        assert restore_cli(source, *args) == 2
        err = capsys.readouterr().err
        assert err.startswith("demoe restore: error: ") and err.count("\n") == 1, err
        return err

    assert "is a file, not a folder" in error_of("--out", tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "a user's file"
    for value in ("-1", "0", "nan"):
        assert "--memory-gb must be a positive" in error_of(
            "--out", tmp_path / "o", "--memory-gb", value
        )
    assert "--max-pixels must be at least 1" in error_of(
        "--out", tmp_path / "o", "--max-pixels", "0"
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "no CUDA GPU is available" in error_of("--out", tmp_path / "o", "--device", "cuda")
    assert not (tmp_path / "o").exists()

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    err = error_of("--out", tmp_path / "full", "-t", "defocus")
    assert f"cannot write {tmp_path / 'full' / 'a.png'}: No space left on device" in err
    assert list((tmp_path / "full").iterdir()) == []  # no partial file, no temp folder


# --- router choices and tile progress ----------------------------------------------------


def test_router_choices_are_printed_and_kept_in_a_csv(tmp_path, capsys):
    root = tmp_path / "in"
    write_png(root / "a.png", noise(24, 32, 7))
    out = tmp_path / "out"
    assert main(["restore", str(root), *MODEL, "--out", str(out)]) == 0
    first = capsys.readouterr()
    write_png(root / "b.png", noise(24, 32, 8))  # a later image: the CSV keeps a's row
    args = ["restore", str(root), *MODEL, "--out", str(out), "--tile", "16", "--overlap", "4"]
    assert main(args) == 0
    second = capsys.readouterr()
    rows = [line.split(",") for line in (out / ROUTING_CSV).read_text().splitlines()]
    assert rows[0] == ["file", "expert", *(f"p_{t}" for t in TASKS)]
    assert [r[0] for r in rows[1:]] == ["a.png", "b.png"]
    probabilities = np.array([r[2:] for r in rows[1:]], dtype=float)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert [r[1] for r in rows[1:]] == [TASKS[i] for i in probabilities.argmax(axis=1)]
    model = load_model(CHECKPOINT)
    with torch.inference_mode():  # a was routed whole (b on a downscaled copy, tiled)
        expected = model.route(torch.from_numpy(read_picture(root / "a.png").chw)[None])
    np.testing.assert_allclose(probabilities[0], expected[0].numpy(), atol=1e-5)
    assert f"{out / 'a.png'}: expert {rows[1][1]}" in first.out
    assert f"{out / 'b.png'}: expert {rows[2][1]}" in second.out
    # per-tile progress with an ETA, as plain lines when stderr is not a terminal
    assert "tiles 6/6, ETA" in second.err and "\r" not in second.err
