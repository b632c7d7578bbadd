"""YAML loading that remembers where every key came from.

Operators edit these files by hand at 3 a.m.; an error that says ``probes/web.yaml:12:
targets.0.interval: must be > 0`` gets fixed in seconds, one that says "validation error"
does not. So every loader keeps a map from key path to line number and every validation
error is turned into one line naming file:line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from hotline_ops.errors import ConfigError

Loc = tuple[str | int, ...]


@dataclass
class YamlDoc:
    """A parsed YAML file: its data and the line (1-based) of every key path."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_for(self, loc: Loc) -> int:
        """Line of the deepest known prefix of ``loc`` (an unknown key points at its parent)."""
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:cut]))
            if line is not None:
                return line
        return 1

    def where(self, loc: Loc = ()) -> str:
        return f"{self.path}:{self.line_for(loc)}"


def load(path: Path, display: str | None = None) -> YamlDoc:
    """Parse ``path``; syntax errors and duplicate keys raise ConfigError with file:line."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    return parse(text, name)


def parse(text: str, name: str) -> YamlDoc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{name}:{line}: YAML syntax: {exc.problem or exc}") from exc
    doc = YamlDoc(Path(name), None)
    if node is None:
        doc.data = {}
        return doc
    _index(node, (), doc.lines, name)
    doc.data = yaml.SafeLoader(text).get_single_data()
    return doc


_KEYS = yaml.constructor.SafeConstructor()


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], name: str) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            # Construct the key as the loader will (`2:` is the int 2, not "2"), so line
            # lookups by the validated data's loc find it.
            key = (
                _KEYS.construct_object(key_node)
                if isinstance(key_node, yaml.ScalarNode)
                else key_node.value
            )
            if key in seen:
                raise ConfigError(f"{name}:{key_node.start_mark.line + 1}: duplicate key '{key}'")
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _index(value_node, (*loc, key), lines, name)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, name)


def config_error(exc: pydantic.ValidationError, doc: YamlDoc, prefix: Loc = ()) -> ConfigError:
    """One line for the first problem (the rest counted), naming file:line and field."""
    errors = exc.errors()
    first = errors[0]
    loc = (*prefix, *first["loc"])
    dotted = ".".join(str(p) for p in loc) or "(root)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return ConfigError(f"{doc.where(loc)}: {dotted}: {_short(first)}{more}")


def _short(error: Any) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def validate(model: type[pydantic.BaseModel], doc: YamlDoc, data: Any = None, prefix: Loc = ()):
    """Validate ``data`` (default: the whole document) into ``model`` or raise ConfigError."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except pydantic.ValidationError as exc:
        raise config_error(exc, doc, prefix) from exc
