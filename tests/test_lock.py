"""requirements/lock.txt installs on Linux x86-64/aarch64 and macOS arm64.

The per-platform checks ask uv (pinned in dev.in) to resolve the lock, pin by pin, for
each target platform against PyPI: a pin with no wheel or sdist for that platform (the
unconditional `triton`/`nvidia-*` pins of the old lock on macOS) fails the resolution.
They need PyPI (the metadata only, no wheel is downloaded) and take about 2 s each.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQ = ROOT / "requirements"
_spec = importlib.util.spec_from_file_location("conda_env", REQ / "conda_env.py")
conda_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conda_env)

UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
needs_uv = pytest.mark.skipif(UV is None, reason="uv (requirements/dev.in) is not installed")

# (uv --python-platform, MACOSX_DEPLOYMENT_TARGET): torch 2.15's macOS wheels are macosx_14_0.
PLATFORMS = {
    "linux-x86_64": ("x86_64-manylinux_2_28", None),
    "linux-aarch64": ("aarch64-manylinux_2_28", None),
    "macos-arm64": ("aarch64-apple-darwin", "14.0"),
}
CUDA_ONLY = re.compile(r"^(nvidia-|triton==|cuda-)", re.MULTILINE)


def _pins(path: Path) -> dict[str, str]:
    """`name -> requirement` of the exact pins in a requirements file (normalised names)."""
    pins = {}
    for requirement in conda_env.locked_requirements(path.read_text()):
        name = re.split(r"[=;\s\[]", requirement, maxsplit=1)[0]
        pins.setdefault(re.sub(r"[-_.]+", "-", name).lower(), requirement)
    return pins


def test_every_top_level_pin_is_in_the_lock_unchanged():
    lock = _pins(REQ / "lock.txt")
    for source in ("runtime.in", "dev.in"):
        for name, requirement in _pins(REQ / source).items():
            version = requirement.split("==")[1]
            assert lock.get(name, "").split(" ;")[0].endswith(f"=={version}"), f"{source}: {name}"


def test_cuda_wheels_carry_linux_markers_and_every_pin_a_hash():
    text = (REQ / "lock.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z])", text.split("\n", 2)[2])
    cuda = [e for e in entries if CUDA_ONLY.match(e)]
    assert {e.split("==")[0] for e in cuda} >= {"triton", "nvidia-cublas", "nvidia-cudnn-cu13"}
    for entry in cuda:
        assert "sys_platform == 'linux'" in entry.splitlines()[0], entry.splitlines()[0]
    for entry in entries:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_conda_env_files_inline_the_lock():
    """Pins inline (found wherever Snakemake copies the file; its env hash follows the pins)."""
    assert conda_env.main(["--check"]) == 0
    env = (ROOT / "workflow/envs/demoe.yaml").read_text()
    assert "-r " not in env
    assert '"torch==2.15.0"' in env
    assert "\"triton==3.9.0 ; python_full_version < '3.16' and sys_platform == 'linux'\"" in env


def test_conda_env_render_follows_a_pin_change():
    before = conda_env.render("", ["torch==2.15.0"])
    assert conda_env.render("", ["torch==2.15.1"]) != before
    with pytest.raises(ValueError, match="not an exact pin"):
        conda_env.locked_requirements("torch>=2\n")


def _resolve(platform: str, deployment_target: str | None, requirements: Path) -> str:
    env = dict(os.environ)
    if deployment_target:
        env["MACOSX_DEPLOYMENT_TARGET"] = deployment_target
    command = [UV, "pip", "compile", "--quiet", "--no-deps", "--no-header", "--no-annotate"]
    command += ["--python-version", "3.11", "--python-platform", platform, str(requirements)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_uv
@pytest.mark.parametrize("target", PLATFORMS)
def test_lock_resolves_for_platform(target):
    platform, deployment_target = PLATFORMS[target]
    resolved = _resolve(platform, deployment_target, REQ / "lock.txt")
    assert "torch==2.15.0" in resolved
    has_cuda = bool(CUDA_ONLY.search(resolved))
    assert has_cuda == target.startswith("linux"), target
    assert "pyiqa==" in _resolve(platform, deployment_target, REQ / "nodeps.txt")


@needs_uv
def test_old_unmarked_lock_is_refused_on_macos(tmp_path):
    """The check can fail: an unconditional triton pin (the old lock) has no macOS wheel."""
    bad = tmp_path / "lock.txt"
    bad.write_text("triton==3.9.0\n")
    env = dict(os.environ, MACOSX_DEPLOYMENT_TARGET="14.0")
    command = [UV, "pip", "compile", "--quiet", "--no-deps", "--python-version", "3.11"]
    command += ["--python-platform", "aarch64-apple-darwin", str(bad)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    assert "triton" in done.stderr
