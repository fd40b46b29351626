"""Adapters for the published dataset layouts of AIO-Blur and AIO-Blur-OOD (paper Sec. 4).

Each adapter is ``adapter(root, split, **layout) -> Found``: the pairs it could
use and a :class:`Problems` report of what it could not (missing partner,
unreadable image, size mismatch, malformed list line). Nothing is dropped
silently: every skipped file is counted, with a few examples.
Keyword arguments are the layout's sub-paths; ``config/`` overrides them
under ``data.layouts.<dataset>``.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from demoe.data.images import image_size, is_image
from demoe.errors import DataError

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Pair:
    blurry: Path
    sharp: Path | None


@dataclass
class Problems:
    """Counts of skipped files by kind, with up to ``MAX_EXAMPLES`` paths each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str | Path) -> None:
        self.counts[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(str(example))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"counts": dict(self.counts), "examples": self.examples}


@dataclass
class Found:
    """Usable pairs of one dataset split, what was skipped, and what was excluded on purpose."""

    pairs: list[Pair] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)
    excluded: int = 0


def images_by_key(folder: Path) -> dict[str, Path]:
    """Image files under ``folder`` (recursive), keyed by relative path without suffix."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))
    return {p.relative_to(folder).with_suffix("").as_posix(): p for p in files}


def check_pair(pair: Pair, problems: Problems) -> bool:
    """True if both images open and have the same size; otherwise record why not."""
    try:
        size = image_size(pair.blurry)
        if pair.sharp is None:
            return True
        other = image_size(pair.sharp)
    except DataError as exc:  # ImageProblem: zero_byte, truncated, unreadable, unsupported
        kind = getattr(exc, "kind", "unreadable")
        problems.add(kind, str(exc).removeprefix("cannot read image "))
        return False
    if size != other:
        problems.add("size_mismatch", f"{pair.blurry} {size} vs {pair.sharp} {other}")
        return False
    return True


def match_folders(blurry_dir: Path, sharp_dir: Path, found: Found) -> None:
    """Pair images of two folders by relative name (suffix ignored); record the rest."""
    for folder in (blurry_dir, sharp_dir):
        if not folder.is_dir():
            found.problems.add("missing_folder", folder)
    if not (blurry_dir.is_dir() and sharp_dir.is_dir()):
        return
    blurry, sharp = images_by_key(blurry_dir), images_by_key(sharp_dir)
    for key in sorted(set(blurry) - set(sharp)):
        found.problems.add("missing_sharp", blurry[key])
    for key in sorted(set(sharp) - set(blurry)):
        found.problems.add("missing_blurry", sharp[key])
    for key in sorted(set(blurry) & set(sharp)):
        pair = Pair(blurry[key], sharp[key])
        if check_pair(pair, found.problems):
            found.pairs.append(pair)


def read_list_file(list_file: Path, root: Path, found: Found) -> None:
    """Pairs from a list file whose lines are ``<sharp path> <blurry path>`` relative to ``root``.

    This is RealBlur's format (``RealBlur_J_train_list.txt``); extra columns are ignored.
    """
    if not list_file.is_file():
        found.problems.add("missing_list_file", list_file)
        return
    lines = list_file.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            found.problems.add("bad_line", f"{list_file}:{lineno}: {line.strip()}")
            continue
        pair = Pair(root / tokens[1], root / tokens[0])
        if not pair.blurry.is_file():
            found.problems.add("missing_blurry", pair.blurry)
        elif not pair.sharp.is_file():
            found.problems.add("missing_sharp", pair.sharp)
        elif check_pair(pair, found.problems):
            found.pairs.append(pair)


def _split_dir(split: str, train: str, test: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return train if split == "train" else test


def gopro(
    root: Path,
    split: str,
    *,
    train: str = "train",
    test: str = "test",
    blurry: str = "blur",
    sharp: str = "sharp",
) -> Found:
    """GOPRO_Large: ``{train,test}/<sequence>/{blur,sharp}/<frame>.png``; ``blur_gamma`` is ignored."""
    found = Found()
    base = Path(root) / _split_dir(split, train, test)
    if not base.is_dir():
        found.problems.add("missing_folder", base)
        return found
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        match_folders(seq / blurry, seq / sharp, found)
    return found


def realblur_j(
    root: Path,
    split: str,
    *,
    train_list: str = "RealBlur_J_train_list.txt",
    test_list: str = "RealBlur_J_test_list.txt",
) -> Found:
    """RealBlur-J: list files of ``<gt path> <blur path>`` lines relative to the root."""
    found = Found()
    read_list_file(Path(root) / _split_dir(split, train_list, test_list), Path(root), found)
    return found


def _two_folders(root: Path, split: str, train: str, test: str, blurry: str, sharp: str) -> Found:
    found = Found()
    base = Path(root) / _split_dir(split, train, test)
    match_folders(base / blurry, base / sharp, found)
    return found


def reloblur(
    root: Path,
    split: str,
    *,
    train: str = "train",
    test: str = "test",
    blurry: str = "blur",
    sharp: str = "gt",
) -> Found:
    """ReLoBlur: ``{train,test}/{blur,gt}/`` with matching names (a ``mask`` folder is ignored)."""
    return _two_folders(root, split, train, test, blurry, sharp)


def lolblur(
    root: Path,
    split: str,
    *,
    train: str = "train",
    test: str = "test",
    blurry: str = "low_blur_noise",
    sharp: str = "high_sharp_scaled",
) -> Found:
    """LOLBlur: ``{train,test}/{low_blur_noise,high_sharp_scaled}/<sequence>/<frame>.png``."""
    return _two_folders(root, split, train, test, blurry, sharp)


def dpdd(
    root: Path,
    split: str,
    *,
    train: str = "train_c",
    test: str = "test_c",
    blurry: str = "source",
    sharp: str = "target",
) -> Found:
    """DPDD (combined view): ``{train_c,val_c,test_c}/{source,target}/``; ``val_c`` is unused."""
    return _two_folders(root, split, train, test, blurry, sharp)


def realdof(root: Path, split: str, *, blurry: str = "source", sharp: str = "target") -> Found:
    """RealDOF (test only): ``{source,target}/``."""
    found = Found()
    match_folders(Path(root) / blurry, Path(root) / sharp, found)
    return found


def rsblur(
    root: Path,
    split: str,
    *,
    list_file: str = "RSBlur_real_test.txt",
    blurry: str = "blur",
    sharp: str = "gt",
) -> Found:
    """RSBlur (test only): a ``<gt path> <blur path>`` list file if present, else ``{blur,gt}/``."""
    found = Found()
    if (Path(root) / list_file).is_file():
        read_list_file(Path(root) / list_file, Path(root), found)
    else:
        match_folders(Path(root) / blurry, Path(root) / sharp, found)
    return found


def real_lolblur(
    root: Path, split: str, *, folder: str = ".", exclude: Sequence[str] = ("*realblur*",)
) -> Found:
    """Real-LOLBlur (test only, no ground truth): every image under ``folder``.

    Files whose relative path matches a glob in ``exclude`` (case-insensitive),
    the images it shares with RealBlur (paper Sec. 4: RealBlur is in training),
    are left out and counted as excluded. The default expects them named or
    filed under "realblur"; set ``data.layouts.real_lolblur.exclude`` to match
    your copy.
    """
    found = Found()
    base = Path(root) / folder
    if not base.is_dir():
        found.problems.add("missing_folder", base)
        return found
    patterns = [p.lower() for p in exclude]
    for path in images_by_key(base).values():
        rel = path.relative_to(base).as_posix().lower()
        if any(fnmatch.fnmatch(rel, p) for p in patterns):
            found.excluded += 1
            continue
        pair = Pair(path, None)
        if check_pair(pair, found.problems):
            found.pairs.append(pair)
    return found


def pairs(
    root: Path,
    split: str,
    *,
    blurry: str = "blur",
    sharp: str = "sharp",
    list_file: str | None = None,
) -> Found:
    """Generic adapter for users' own data: two folders with matching names, or a list file.

    The list file, if given, has ``<sharp path> <blurry path>`` lines relative to ``root``.
    """
    found = Found()
    if list_file is not None:
        read_list_file(Path(root) / list_file, Path(root), found)
    else:
        match_folders(Path(root) / blurry, Path(root) / sharp, found)
    return found


def lolv2_real(
    root: Path,
    split: str,
    *,
    subset: str = "Real_captured",
    train: str = "Train",
    test: str = "Test",
    low: str = "Low",
    normal: str = "Normal",
) -> Found:
    """LOLv2 (Yang et al., 2021), for Fig. 8 only: ``<subset>/{Train,Test}/{Low,Normal}/``
    with ``low00001.png`` paired to ``normal00001.png`` (names without the prefix)."""
    found = Found()
    base = Path(root) / subset / _split_dir(split, train, test)
    folders = {low.lower(): base / low, normal.lower(): base / normal}
    for folder in folders.values():
        if not folder.is_dir():
            found.problems.add("missing_folder", folder)
    if not all(f.is_dir() for f in folders.values()):
        return found
    dark, bright = (
        {k.removeprefix(prefix): p for k, p in images_by_key(folder).items()}
        for prefix, folder in folders.items()
    )
    for key in sorted(set(dark) - set(bright)):
        found.problems.add("missing_sharp", dark[key])
    for key in sorted(set(bright) - set(dark)):
        found.problems.add("missing_blurry", bright[key])
    for key in sorted(set(dark) & set(bright)):
        pair = Pair(dark[key], bright[key])
        if check_pair(pair, found.problems):
            found.pairs.append(pair)
    return found


Adapter = Callable[..., Found]

#: Adapter and the splits it provides, per dataset of ``demoe.tasks.DATASETS``.
ADAPTERS: dict[str, tuple[Adapter, tuple[str, ...]]] = {
    "dpdd": (dpdd, ("train", "test")),
    "realblur_j": (realblur_j, ("train", "test")),
    "reloblur": (reloblur, ("train", "test")),
    "gopro": (gopro, ("train", "test")),
    "lolblur": (lolblur, ("train", "test")),
    "realdof": (realdof, ("test",)),
    "rsblur": (rsblur, ("test",)),
    "real_lolblur": (real_lolblur, ("test",)),
    "lolv2_real": (lolv2_real, ("train", "test")),
}
