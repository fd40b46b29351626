"""No config value reaches a shell unquoted.

Every string key of config/config.yaml is found by walking the config beside its schema,
so keys and rules added later are covered without editing this file:

* a key the schema constrains (``enum`` or ``pattern``: devices, model names) must reject
  a hostile value;
* every other string key (paths, free names, ``results`` itself) gets a hostile value, an
  existing file whose name holds spaces, quotes, ``;``, ``$(...)`` and backquotes, and
  ``snakemake -n -p`` prints the commands of the whole DAG. Each printed command is then
  run by bash with ``python``/``torchrun`` replaced by a recorder of their argv: no
  injected command may run, and each hostile value must arrive as part of one argument.
"""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import REPO, run_snakemake

#: Injected commands write PWNED* files into the sandbox when a shell runs them.
PAYLOAD = "a b;echo>PWNED1;$(echo>PWNED2)`echo>PWNED3`'\"&|<x"
RECORDER = """#!/bin/bash
for a in "$@"; do printf '%s\\0' "$a"; done >> "$ARGV_LOG"
printf '\\1\\0' >> "$ARGV_LOG"
"""


def _branch(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """The ``oneOf`` branch describing ``value`` (or the schema itself)."""
    kinds = {dict: "object", list: "array", str: "string", type(None): "null"}
    for option in schema.get("oneOf", []):
        if option.get("type") == kinds.get(type(value)):
            return option
    return schema


def string_keys(schema: dict[str, Any], value: Any, path: tuple = ()):
    """(path, schema) of every string (or null-able string) leaf of ``value``."""
    schema = _branch(schema, value)
    if isinstance(value, dict):
        for key, sub in value.items():
            child = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
            if isinstance(child, dict):
                yield from string_keys(child, sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from string_keys(schema.get("items", {}), sub, (*path, i))
    elif value is None or isinstance(value, str):
        types = schema.get("type", [])
        if "string" in (types if isinstance(types, list) else [types]):
            yield path, schema


def _set(config: dict, path: tuple, value: Any) -> None:
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _get(config: dict, path: tuple) -> Any:
    for key in path:
        config = config[key]
    return config


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text(encoding="utf-8"))


def _keys():
    schema = _load("config/schema/config.schema.yaml")
    config = _load("config/config.yaml")
    keys = list(string_keys(schema, config))
    assert len(keys) > 10  # the walk found the config's strings
    return schema, config, keys


def test_constrained_string_keys_reject_shell_syntax():
    schema, config, keys = _keys()
    constrained = [path for path, sub in keys if "enum" in sub or "pattern" in sub]
    assert ("cost", "device") in constrained and (
        "train",
        "settings",
        "run",
        "device",
    ) in constrained
    validator = jsonschema.Draft202012Validator(schema)
    for path in constrained:
        bad = json.loads(json.dumps(config))
        _set(bad, path, f"cpu;{PAYLOAD}")
        assert not validator.is_valid(bad), path


def _hostile_config(tmp: Path, fill_nulls: bool) -> tuple[dict, list[str]]:
    """config.yaml with every free string key set to an existing hostile path (the
    null ones too with ``fill_nulls``: a set ``data.root`` or ``eval.niqe_params`` drops
    rules from the DAG, so both variants are needed to reach every rule)."""
    _, config, keys = _keys()
    values = []
    for i, (path, sub) in enumerate(keys):
        if "enum" in sub or "pattern" in sub or (_get(config, path) is None and not fill_nulls):
            continue
        value = tmp / f"k{i} {PAYLOAD}"
        value.touch()
        _set(config, path, str(value))
        values.append(str(value))
    if fill_nulls:  # a hostile data.root holds no dataset: all optional, so the DAG builds
        config["data"]["optional"] = list(config["data"]["roots"])
        checkpoint = tmp / f"checkpoint {PAYLOAD}.pth"  # rule import_checkpoint
        checkpoint.touch()
        config["checkpoints"] = {"demoe": str(checkpoint)}
        values += [str(checkpoint), checkpoint.name]  # tables and Fig. 12 name the file
    config["results"] = str(tmp / f"results {PAYLOAD}")
    return config, [*values, config["results"]]


def _printed_commands(config_file: Path) -> list[tuple[str, str]]:
    run = run_snakemake("-n", "-p", "--cores", "1", configs=[config_file], timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    commands, rule = [], None
    for line in run.stdout.splitlines():
        if line.startswith("rule ") and line.endswith(":"):
            rule = line[5:-1]
        elif line.startswith("Shell command: ") and line != "Shell command: None":
            commands.append((rule, line.removeprefix("Shell command: ")))
    return commands


def _rules_with_shell() -> set[str]:
    names = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        lines = smk.read_text(encoding="utf-8").splitlines()
        rule = None
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("rule ") and stripped.endswith(":"):
                rule = stripped[5:-1]
            elif stripped == "shell:" and rule:
                names.add(rule)
    return names


def _run_inertly(command: str, sandbox: Path, bin_dir: Path, argv_log: Path) -> None:
    """Run ``command`` with bash in ``sandbox``; redirect targets' folders are created
    (when the command parses: a broken quote is left for bash to fail on)."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = []
    for op, target in zip(tokens, tokens[1:], strict=False):
        if op in (">", "tee"):
            Path(sandbox, target).parent.mkdir(parents=True, exist_ok=True)
    env = {"PATH": str(bin_dir), "ARGV_LOG": str(argv_log), "HOME": str(sandbox)}
    subprocess.run(["/bin/bash", "-c", command], cwd=sandbox, env=env, timeout=60, check=False)


@pytest.mark.slow
def test_hostile_config_strings_stay_single_arguments(tmp_path):
    commands, values = [], []
    for fill_nulls in (False, True):
        hostile_dir = tmp_path / f"hostile{int(fill_nulls)}"
        hostile_dir.mkdir()
        config, hostile = _hostile_config(hostile_dir, fill_nulls)
        config_file = hostile_dir / "hostile.yaml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        commands += _printed_commands(config_file)
        values += hostile
    # every rule with a shell command went through the check (fig08 too: its key is set),
    # and the evaluation rules eval.smk makes in a loop (`rule:` + `name: evaluate_<experiment>`)
    assert {rule for rule, _ in commands} >= _rules_with_shell() - {"all"}
    assert {"evaluate_demoe", "evaluate_blurry_input"} <= {rule for rule, _ in commands}

    bin_dir, sandbox, argv_log = tmp_path / "bin", tmp_path / "sandbox", tmp_path / "argv"
    bin_dir.mkdir()
    sandbox.mkdir()
    for tool in ("python", "torchrun"):
        (bin_dir / tool).write_text(RECORDER, encoding="utf-8")
        (bin_dir / tool).chmod(stat.S_IRWXU)
    for tool in ("tee", "grep"):  # the train rule copies notices from its log to stderr
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for _, command in commands:
        _run_inertly(command, sandbox, bin_dir, argv_log)

    injected = sorted(p.name for p in tmp_path.rglob("PWNED*"))
    assert not injected, f"a config value ran as shell code: {injected}"
    calls = argv_log.read_bytes().decode().split("\0\1\0")
    assert len([c for c in calls if c]) == len(commands), "a command broke under quoting"
    escaped = [json.dumps(v)[1:-1] for v in values]
    seen = set()
    for call in calls:
        for arg in call.split("\0"):
            if "PWNED" in arg:
                # whole values only (plain, or JSON-escaped inside --data-json / train config)
                hits = [v for v, e in zip(values, escaped, strict=True) if v in arg or e in arg]
                assert hits, f"a hostile value was split: {arg!r}"
                seen.update(hits)
    assert config["results"] in seen and len(seen) > 10
