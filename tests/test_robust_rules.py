"""Rules never delete a file they did not create, and one run writes a results folder.

The decoded store removes only files it recorded as its own and refuses a folder holding
others; the synthetic data folder is not a rule output (Snakemake would delete it); the
results-folder lock refuses a second run while a live one holds it, is taken over when
its process is dead, and is never taken by a dry run. The Snakemake runs target only the
store of the tiny synthetic data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_snakemake

from demoe.data.images import write_image
from demoe.data.manifest import Record
from demoe.data.store import OWN_FILES, DecodedStore, build_store, store_file
from demoe.errors import DataError
from demoe.io.atomic import lock_owner, release_lock, take_lock

pytestmark = pytest.mark.slow


def _records(tmp_path: Path, n: int) -> list[Record]:
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        for role in ("b", "s"):
            write_image(tmp_path / f"{role}{i}.png", rng.random((12, 16, 3)))
        records.append(
            Record(
                str(tmp_path / f"b{i}.png"), str(tmp_path / f"s{i}.png"), "defocus", "dpdd", "train"
            )
        )
    return records


def test_store_refuses_a_folder_with_a_users_files_and_keeps_them(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    mine = store / "mine.npy"
    np.save(mine, np.arange(3))
    with pytest.raises(DataError, match=r"1 file\(s\) the decoded store did not create \(mine"):
        build_store(_records(tmp_path, 1), store)
    assert np.load(mine).tolist() == [0, 1, 2] and sorted(p.name for p in store.iterdir()) == [
        "mine.npy"
    ]


def test_store_removes_only_its_own_files_even_without_its_index(tmp_path):
    records, store = _records(tmp_path, 2), tmp_path / "store"
    build_store(records, store)
    (store / "index.json").unlink()  # what Snakemake does before it reruns the rule
    summary = build_store(records[:1], store)
    assert summary == {**summary, "images": 2, "decoded": 0, "reused": 2, "removed": 2}
    kept = {store_file(records[0].blurry), store_file(records[0].sharp)}
    assert {p.name for p in store.glob("*.npy")} == kept
    DecodedStore(store).array(records[0].blurry)
    assert OWN_FILES in {p.name for p in store.iterdir()}


def test_a_live_lock_refuses_a_dead_ones_is_taken_over(tmp_path):
    lock = tmp_path / "r" / ".lock"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other = f"{live.pid} {lock_owner().split(' ')[1]} /elsewhere"
        lock.parent.mkdir()
        lock.write_text(other + "\n")
        with pytest.raises(DataError, match=f"results r is in use .*{live.pid}.*remove the stale"):
            take_lock(lock, lock_owner(), "results r")
        release_lock(lock, lock_owner())  # not ours: kept
        assert lock.read_text().strip() == other
    finally:
        live.kill()
        live.wait()
    take_lock(lock, lock_owner(), "results r")  # its process is dead: stale
    assert lock.read_text().strip() == lock_owner()
    release_lock(lock, lock_owner())
    assert not lock.exists()


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    lock = tmp_path / ".lock"
    lock.write_text("1 some-other-host /x\n")
    with pytest.raises(DataError, match="some-other-host"):
        take_lock(lock, lock_owner(), "results")


def _store_target(results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Snakemake on config/test.yaml with only the training store (and what it needs)."""
    target = str(results / "data" / "store" / "train" / "index.json")
    return run_snakemake(
        "--cores", "1", *args, target, configs=["config/test.yaml"], results=results, timeout=600
    )


def test_the_dag_keeps_a_users_files_and_one_run_holds_the_results(tmp_path):
    results = tmp_path / "results"
    lock = results / ".demoe_run.lock"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        lock.parent.mkdir()
        lock.write_text(f"{live.pid} {lock_owner().split(' ')[1]} /another/working/folder\n")
        refused = _store_target(results)
        assert refused.returncode != 0
        assert "is in use by another run" in refused.stderr
        assert f"{live.pid} " in refused.stderr  # the holder, and how to clear a stale lock:
        assert f"remove the stale lock {lock}" in refused.stderr
        assert not (results / "data").exists()  # nothing ran
        assert _store_target(results, "-n").returncode == 0  # a dry run takes no lock
    finally:
        live.kill()
        live.wait()
    lock.unlink()

    store, synthetic = results / "data" / "store" / "train", results / "data" / "synthetic"
    store.mkdir(parents=True)
    synthetic.mkdir()
    (store / "mine.npy").write_bytes(b"the user's")
    (synthetic / "notes.txt").write_text("the user's")
    failed = _store_target(results)
    assert failed.returncode != 0
    log = (results / "logs" / "data" / "prepare_train_store_train.log").read_text()
    assert "did not create (mine.npy)" in log
    assert (store / "mine.npy").read_bytes() == b"the user's"
    assert (synthetic / "notes.txt").read_text() == "the user's"
    assert (synthetic / "SYNTHETIC.json").is_file()  # the failure removed no finished data
    assert (results / "data" / "synthetic.done").stat().st_size > 0  # the rule's output
    assert not lock.exists()  # released when the run failed
