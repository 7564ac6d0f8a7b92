"""Reading a training config: a YAML file, then ``--set key=value`` overrides, then validation.

An error is blamed on what caused it. A bad ``--set`` is a usage error of the command
line (:class:`ConfigUsageError`, exit 2) naming that ``--set`` item, not the YAML file
underneath it; an unknown key gets the nearest real keys as "did you mean".
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import MidnetError, one_line
from .config import RESUMABLE_CHANGES, TrainConfig, field_paths


class ConfigUsageError(MidnetError):
    """A bad ``--set`` (or option standing for one): the command line's fault, not the file's."""


def load_config(
    path: str | os.PathLike | None = None, overrides: list[str] = (), values: dict[str, Any] | None = None
) -> TrainConfig:
    """A config from a YAML file with ``key.sub=value`` overrides (values parsed as YAML, never eval'd).

    ``values`` sets dotted keys to Python values as they are (``--data``, ``--out``).
    """
    tree = _read_yaml(path)
    sources: dict[tuple[str, ...], str] = {}  # dotted key -> the command-line item that set it
    for item in overrides:
        key, value = parse_set_item(item)
        _set_dotted(tree, key, value, f"--set {item}")
        sources[tuple(key.split("."))] = f"--set {item}"
    for key, value in (values or {}).items():
        _set_dotted(tree, key, value, f"{key}={value}")
        sources[tuple(key.split("."))] = f"{key}={value}"
    try:
        return TrainConfig.model_validate(tree)
    except ValidationError as exc:
        raise explain_errors(exc, path, sources) from None


def parse_set_item(item: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (dotted key, value parsed as YAML; empty means null)."""
    if "=" not in item:
        raise ConfigUsageError(f"--set {item}: write key=value, e.g. --set optim.lr=5e-4")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigUsageError(f"--set {item}: the key is empty; write key=value, e.g. --set optim.lr=5e-4")
    try:
        return key, (yaml.safe_load(raw) if raw.strip() else None)
    except yaml.YAMLError:
        raise ConfigUsageError(f"--set {item}: the value is not valid YAML; quote it, e.g. key='a: b'") from None


def _read_yaml(path: str | os.PathLike | None) -> dict:
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise MidnetError(f"{path}: no such config file")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise MidnetError(f"{path}: not valid YAML ({one_line(exc)})") from exc
    if not isinstance(tree, dict):
        raise MidnetError(f"{path}: a training config is a mapping of keys (model:, data:, ...), not {type(tree).__name__}")
    return tree


def _set_dotted(tree: dict, dotted: str, value: Any, label: str) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigUsageError(f"{label}: {k} is not a section")
    node[keys[-1]] = value


def explain_errors(exc: ValidationError, path, sources: dict[tuple[str, ...], str]) -> MidnetError:
    """One line per cause, blamed on the ``--set`` item that set the key when there is one."""
    blamed: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = tuple(str(x) for x in error.get("loc", ()))
        # an error inside a key a --set wrote, or on a section --sets wrote into (its cross-field checks)
        labels = [lab for key, lab in sources.items() if key[: len(loc)] == loc or loc[: len(key)] == key]
        blamed.setdefault(", ".join(labels) or None, []).append(describe_error(error, loc))
    usage = {label: why for label, why in blamed.items() if label is not None}
    if usage:
        return ConfigUsageError("; ".join(f"{label}: {', '.join(why)}" for label, why in usage.items()))
    return MidnetError(f"invalid training config{f' {path}' if path else ''}: {'; '.join(blamed[None])}")


def describe_error(error: dict, loc: tuple[str, ...]) -> str:
    dotted = ".".join(loc) or "config"
    if error.get("type") == "extra_forbidden":
        near = suggest_keys(dotted)
        return f"unknown key {dotted}" + (f" (did you mean {' or '.join(near)}?)" if near else "")
    msg = str(error.get("msg", "")).removeprefix("Value error, ")
    return msg if msg.startswith(dotted) else f"{dotted}: {msg}"


def suggest_keys(dotted: str, limit: int = 3) -> list[str]:
    """Real config keys near ``dotted``: keys as deep as it first, else its last part anywhere.

    Only the matches about as close as the best are kept: one good guess reads better than three.
    """
    known = field_paths()
    depth = dotted.count(".")
    near = _closest(dotted, [p for p in known if p.count(".") == depth], limit)
    if near:
        return near
    leaf = dotted.rsplit(".", 1)[-1]  # 'lr' finds optim.lr wherever it lives
    leaves = _closest(leaf, sorted({p.rsplit(".", 1)[-1] for p in known}), limit)
    return [p for p in known if p.rsplit(".", 1)[-1] in leaves][:limit]


def _closest(word: str, candidates: list[str], limit: int) -> list[str]:
    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in candidates), reverse=True)
    scored = [(score, c) for score, c in scored if score >= 0.6]
    return [c for score, c in scored[:limit] if score >= scored[0][0] - 0.1]


def check_resume_config(config: TrainConfig, out: Path) -> None:
    """Refuse to resume under a config that would change the run (data, split, schedule...)."""
    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        return
    saved = load_config(saved_path).model_dump(mode="json")
    current = config.model_dump(mode="json")
    diffs = []
    for section, value in current.items():
        if section in RESUMABLE_CHANGES:
            continue
        if isinstance(value, dict):
            diffs += [f"{section}.{k}" for k in value if value[k] != saved.get(section, {}).get(k)]
        elif value != saved.get(section):
            diffs.append(section)
    if diffs:
        raise MidnetError(
            f"{out}: --resume with other settings than the run ({', '.join(diffs)}); resume with "
            f"'midnet train --out {out} --resume' (its saved config) or start a new run"
        )
