"""Typed stage parameters whose defaults are written once, in the config schema.

Each stage keeps one frozen dataclass of its parameters. Its fields carry no default:
``build(Cls, raw)`` fills what ``raw`` leaves out from the schema section the class names
(``SECTION``, a dotted path such as ``"labels.hog"``) and refuses unknown keys, so the schema
(``nemi/schemas/config.schema.yaml``, also what Snakemake validates the config with) is the
only place a default lives. The CLI derives its flags from the same dataclass and schema
(``add_arguments`` / ``from_args``): a flag left out takes the schema's default, ``--params``
takes the section as one JSON object (what the rules pass), and a flag given overrides it.

A stage with parameters of several sections (``nemi train``: the model and the train sections) has one
dataclass whose fields are those sections' dataclasses (its :func:`parts`), and ``FLAGS`` names the part
its command's flags set. Its ``--params`` is one JSON object of every part's section
(``{"model": {...}, "train": {...}}``), and its ``from_dict`` builds it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import yaml

from nemi.errors import NemiConfigError

T = TypeVar("T")

SCHEMA_FILE = "config.schema.yaml"
# Keys the rules add to a stage's parameters so that Snakemake reruns a stage whose meaning
# changed (the stage modules' VERSION); not parameters of the stage itself.
RULE_ONLY_KEYS = frozenset({"version"})


def schema_path() -> str:
    return str(resources.files("nemi.schemas").joinpath(SCHEMA_FILE))


@cache
def schema() -> dict:
    return yaml.safe_load(resources.files("nemi.schemas").joinpath(SCHEMA_FILE).read_text())


def _resolve(node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"{SCHEMA_FILE}: only local $defs references are supported, not {ref}")
    return _resolve(schema()["$defs"][ref.removeprefix("#/$defs/")])


def section_schema(section: str) -> dict:
    """The schema of a dotted config section, e.g. ``"labels.hog"``."""
    node = schema()
    first, *rest = section.split(".")
    # Per-dataset sections (videos, synth) are defined in $defs only.
    node = node["properties"].get(first) or node["$defs"].get(first)
    if node is None:
        raise ValueError(f"{SCHEMA_FILE} has no section {section!r}")
    node = _resolve(node)
    for part in rest:
        try:
            node = _resolve(_resolve(node)["properties"][part])
        except KeyError:
            raise ValueError(f"{SCHEMA_FILE} has no section {section!r}") from None
    return node


def defaults(section: str) -> dict[str, Any]:
    """Every default the schema writes for the scalar keys of ``section``."""
    props = section_schema(section).get("properties", {})
    return {k: p["default"] for k, p in props.items() if "default" in p}


def _field_names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build(cls: type[T], raw: Mapping[str, Any] | None = None) -> T:
    """``cls`` from a config section: missing keys from the schema, unknown keys refused."""
    raw = dict(raw or {})
    names = _field_names(cls)
    unknown = set(raw) - set(names) - RULE_ONLY_KEYS
    if unknown:
        raise NemiConfigError(f"{cls.SECTION}: unknown key(s) {sorted(unknown)}; known: {sorted(names)}")
    values = {**defaults(cls.SECTION), **{k: v for k, v in raw.items() if k in names}}
    missing = [n for n in names if n not in values]
    if missing:
        raise NemiConfigError(f"{cls.SECTION}: no value and no schema default for {missing}")
    try:
        return cls(**{n: values[n] for n in names})
    except ValueError as err:  # the dataclass's own checks; the message names the key
        raise NemiConfigError(str(err)) from None


def from_config(cls: type[T], section: Mapping[str, Any]) -> T:
    """``cls`` from a validated config section that also holds keys of other parts of the stage
    (``features`` holds the weights paths beside ExtractParams' fields): only ``cls``'s fields are taken."""
    names = set(_field_names(cls))
    return build(cls, {k: v for k, v in section.items() if k in names})


def as_dict(params) -> dict[str, Any]:
    return dataclasses.asdict(params)


def parts(cls) -> dict[str, type]:
    """The fields of a stage's dataclass that are dataclasses of sections of their own, by field name."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def _flag_class(cls) -> type:
    """The dataclass whose fields become flags: the part ``cls.FLAGS`` names, else ``cls`` itself."""
    flags = getattr(cls, "FLAGS", None)
    return parts(cls)[flags] if flags else cls


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of ``cls`` (help text and choices from the schema, default from it), and ``--params``.
    For a stage of several parts, the flags are those of its ``FLAGS`` part and ``--params`` holds every part."""
    flagged = _flag_class(cls)
    props = section_schema(flagged.SECTION).get("properties", {})
    group = parser.add_argument_group(f"{flagged.SECTION} parameters (config section {flagged.SECTION})")
    if flagged is cls:
        whole = f"the whole {cls.SECTION} section as one JSON object"
    else:
        whole = ("the stage's parameters as one JSON object of its sections (" +
                 ", ".join(f"{name!r}: the {part.SECTION} section" for name, part in parts(cls).items()) + ")")
    group.add_argument("--params", metavar="JSON", help=f"{whole}; flags given override it")
    for name in _field_names(flagged):
        if name in skip:
            continue
        p = props.get(name, {})
        kind = p.get("type")
        kind = [k for k in kind if k != "null"][0] if isinstance(kind, list) else kind
        text = p.get("description", "")
        if "default" in p:
            text = f"{text} (default {p['default']!r})".strip()
        kw: dict[str, Any] = {"default": None, "help": text or None, "dest": name}
        if kind == "boolean":
            kw["action"] = argparse.BooleanOptionalAction
        elif "enum" in p:
            kw["choices"] = p["enum"]
            kw["type"] = type(p["enum"][0])
        elif kind in ("integer", "number", "string"):
            kw["type"] = {"integer": int, "number": float, "string": str}[kind]
        elif kind == "array":
            kw["nargs"] = "+"
        group.add_argument(_flag(name), **kw)


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """``cls`` from ``--params`` (if given), overridden by every flag given, the rest from the schema: built
    once, by ``cls.from_dict`` where it has one (a stage of several parts has), else :func:`build`."""
    raw = json_object(getattr(args, "params", None), "--params")
    flags = getattr(cls, "FLAGS", None)
    target = raw.setdefault(flags, {}) if flags else raw
    if not isinstance(target, dict):
        raise NemiConfigError(f"--params: {flags} must be a JSON object, not {type(target).__name__}")
    for name in _field_names(_flag_class(cls)):
        value = getattr(args, name, None)
        if value is not None:
            target[name] = value
    from_dict = getattr(cls, "from_dict", None)
    return from_dict(raw) if from_dict is not None else build(cls, raw)


def json_object(text: str | None, flag: str) -> dict:
    """A command-line JSON object (``--params '{...}'``); empty or None is {}; anything else is refused."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise NemiConfigError(f"{flag} is not a JSON object: {err}") from None
    if not isinstance(value, dict):
        raise NemiConfigError(f"{flag} must be a JSON object, not {type(value).__name__}")
    return value
