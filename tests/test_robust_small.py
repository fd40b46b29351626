"""The smaller faults of issue 12 (item 6), one test each."""

from __future__ import annotations

import json
import os

import pytest

from demoe.errors import CheckpointError
from demoe.io.checkpoint import load_model, read_checkpoint, save_model
from demoe.models.registry import create_model


def test_random_bytes_pth_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "random.pth"
    for head in (b"", b"\x80\x02", b"PK\x03\x04"):
        path.write_bytes(head + os.urandom(4096))
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(path)
        assert "pickled code" not in str(err.value)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(path)


def test_config_claiming_other_sizes_is_refused_before_building(tmp_path, monkeypatch):
    folder = save_model(create_model("nafnet", width=4), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "width": 4096}))
    import demoe.io.checkpoint as checkpoint

    def no_build(_):
        raise AssertionError("a model was built from a config that contradicts the weights")

    monkeypatch.setattr(checkpoint, "build_model", no_build)
    with pytest.raises(CheckpointError, match="width: config 4096 vs weights 4"):
        load_model(folder)
