"""Reading a parameter file: bytes -> text -> one YAML mapping, with the
line (and the raw text) of every value, and nothing a hostile file can use
to hang, crash or fill the memory of the build.

A parameter file is a few kilobytes of plain data, so everything that is not
plain data is refused before it is expanded:
- the path must be a readable regular file of at most MAX_BYTES (a folder, a
  dangling link or a FIFO is named as such);
- the text must be UTF-8 without NUL bytes (a UTF-16 file or a binary is
  named as such, with the line of the first bad byte);
- one document holding one mapping; nesting at most MAX_DEPTH deep; at most
  MAX_ALIASES aliases and MAX_VALUES values once aliases are expanded,
  counted on the node graph before anything is built from it (a billion
  laughs is a few hundred bytes); no alias that contains itself;
- only the plain YAML tags (str, int, float, bool, null, timestamp, seq, map,
  merge): `!!python/...`, `!!binary`, `!!set` and CloudFormation's `!Ref`
  are refused;
- integers of at most MAX_INT_DIGITS digits (Python refuses to parse more
  than 4,300, with a ValueError PyYAML does not catch);
- a key given twice in one mapping is an error (the YAML spec says keys are
  unique; PyYAML silently keeps the last one).

PyYAML and the standard library only: the lint service reads the region of
a file with this module before the heavy imports.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 128 * 1024
MAX_DEPTH = 32
MAX_ALIASES = 100
MAX_VALUES = 20_000
MAX_INT_DIGITS = 30

_YAML = "tag:yaml.org,2002:"
PLAIN_TAGS = {f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")}
# What an unquoted scalar of each tag is, for the "quote it" hint.
READ_AS = {
    f"{_YAML}int": "a number", f"{_YAML}float": "a number", f"{_YAML}bool": "true/false",
    f"{_YAML}null": "null (no value)", f"{_YAML}timestamp": "a date",
}


class SourceError(Exception):
    """The file cannot be read as a parameter file: `(line or None, message)`."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Scalar:
    """How a value was written: its 1-based line, its text, whether it was
    unquoted (`plain`) and the tag YAML resolved it to."""

    line: int
    text: str
    plain: bool
    tag: str


@dataclass
class Source:
    """A parameter file as read: its bytes (what the build fingerprints), the
    data, and for every field path (a tuple of keys and indexes) its line
    and, for scalars, how it was written."""

    raw: bytes
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)
    scalars: dict[tuple, Scalar] = field(default_factory=dict)


def check_path(path: Path) -> None:
    """Refuse a path that is not a readable parameter file, naming what it is."""
    try:
        _check_path(path)
    except OSError as exc:  # a folder on the way that cannot be searched, say
        raise SourceError(f"cannot be read: {exc.strerror or exc}") from None


def _check_path(path: Path) -> None:
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise SourceError(f"the parameters folder {folder} is a file, not a folder")
    if path.is_symlink() and not path.exists():
        raise SourceError(f"is a link to {os.readlink(path)}, which does not exist")
    if not path.exists():
        raise SourceError(_missing(path))
    if path.is_dir():
        raise SourceError("is a folder, not a parameter file")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise SourceError("is not a regular file (a device, socket or pipe?)")
    if not os.access(path, os.R_OK):
        raise SourceError("cannot be read: permission denied")


def _missing(path: Path) -> str:
    for other in (".yml", ".YAML", ".YML"):
        if path.with_suffix(other).is_file():
            return (f"no such parameter file, but {path.with_suffix(other).name} is there: Strata reads "
                    f"<env>.yaml files; rename it to {path.name}")
    siblings = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
    return f"no such parameter file (available: {', '.join(siblings) or 'none'})"


def read_bytes(path: Path) -> bytes:
    check_path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except PermissionError:
        raise SourceError("cannot be read: permission denied") from None
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise SourceError(f"is larger than {MAX_BYTES // 1024} KiB; a parameter file is a few kilobytes of settings")
    return raw


_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
)


def decode(raw: bytes) -> str:
    """UTF-8 text (a UTF-8 byte order mark is dropped), or a SourceError naming the line."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise SourceError(f"is {encoding} encoded; save it as UTF-8")
    if b"\0" in raw:
        line = raw[:raw.index(b"\0")].count(b"\n") + 1
        raise SourceError("contains a NUL byte: a parameter file is UTF-8 text (is this UTF-16 or a binary file?)", line)
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(f"is not UTF-8 (byte 0x{raw[exc.start]:02X} cannot start a character); save it as UTF-8", line) from None


class _Loader(yaml.SafeLoader):
    """SafeLoader with the caps above, checked while composing, and duplicate keys refused."""

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Problem(self.peek_event().start_mark, f"more than {MAX_ALIASES} aliases (*name); "
                                                             "a parameter file has no need for that many")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Problem(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == f"{_YAML}merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise _Problem(key_node.start_mark, "a key must be a plain value, not a list or a mapping") from None
            if first is not None:
                raise _Problem(key_node.start_mark, f"key {_shown(key)} is given twice (first on line {first}); "
                                                    "keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        digits = len(node.value.replace("_", "").lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            raise _Problem(node.start_mark, f"a number with {digits} digits is not a setting any field takes")
        return super().construct_yaml_int(node)


_Loader.add_constructor(f"{_YAML}int", _Loader.construct_yaml_int)


class _Problem(yaml.YAMLError):
    """A cap or rule of this module, with the mark where it was broken."""

    def __init__(self, mark, message: str):
        super().__init__(message)
        self.problem_mark, self.problem = mark, message


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def _check_graph(root: yaml.Node) -> None:
    """Refuse unsafe tags, aliases that contain themselves, and documents
    that expand to more than MAX_VALUES values or MAX_DEPTH levels, on the
    node graph (shared nodes are measured once, so this is linear in the
    file, not in its expansion)."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)
    open_nodes: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        if id(node) in measured:
            values, height = measured[id(node)]
        else:
            if id(node) in open_nodes:
                raise _Problem(node.start_mark, "an alias refers to a value that contains it (a recursive "
                                                "structure); a parameter file is a tree")
            if node.tag not in PLAIN_TAGS:
                raise _Problem(node.start_mark, _tag_message(node.tag))
            open_nodes.add(id(node))
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
                node.value if isinstance(node, yaml.SequenceNode) else [])
            values, height = 1, 1
            for child in children:
                child_values, child_height = measure(child, depth + 1)
                values += child_values
                height = max(height, child_height + 1)
                if values > MAX_VALUES:
                    raise _Problem(node.start_mark, f"holds more than {MAX_VALUES} values (aliases expanded); "
                                                    "a parameter file has a few hundred")
            open_nodes.discard(id(node))
            measured[id(node)] = (values, height)
        if depth + height - 1 > MAX_DEPTH:
            raise _Problem(node.start_mark, f"nested more than {MAX_DEPTH} levels deep once aliases are expanded")
        return values, height

    measure(root, 1)


def _tag_message(tag: str) -> str:
    shown = tag.replace(_YAML, "!!")
    if shown.startswith("!!python"):
        return f"tag {shown} is refused: a parameter file holds plain values, never Python objects"
    if shown.startswith("!") and not shown.startswith("!!"):
        return (f"tag {shown} is not a parameter file value (CloudFormation functions like !Ref belong "
                "in templates); write the plain value, quoted if it starts with !")
    return f"tag {shown} is refused: use plain strings, numbers, true/false, lists and mappings"


def _single_document(loader: _Loader) -> yaml.Node | None:
    loader.get_event()  # StreamStart
    node = None
    if not loader.check_event(yaml.StreamEndEvent):
        node = loader.compose_document()
    if not loader.check_event(yaml.StreamEndEvent):
        line = loader.peek_event().start_mark.line + 1
        raise SourceError(f"holds more than one YAML document (another starts on line {line}); "
                          "a parameter file is one mapping", line)
    return node


def parse(text: str) -> tuple[Any, dict[tuple, int], dict[tuple, Scalar]]:
    """(data, lines, scalars) of one YAML document, with the caps above."""
    try:
        loader = _Loader(text)  # the reader refuses characters YAML does not allow here
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text) from None
    try:
        node = _single_document(loader)
        if node is None:
            raise SourceError("is empty; a parameter file is a mapping of project, environment, region and layers")
        _check_graph(node)
        data = loader.construct_document(node)
        lines: dict[tuple, int] = {}
        scalars: dict[tuple, Scalar] = {}
        _index(loader, node, (), lines, scalars)
        return data, lines, scalars
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text) from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, text: str) -> SourceError:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[:exc.position].count("\n") + 1
        return SourceError(f"character U+{exc.character:04X} is not allowed in YAML (write it as an escape "
                           "in a double-quoted string if a value needs it)", line)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if not isinstance(exc, _Problem):
        problem = f"not valid YAML: {problem}"
    return SourceError(problem, mark.line + 1 if mark else None)


def _index(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, scalars: dict) -> None:
    """Line and written form of every path (merge keys already flattened by construction)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        scalars[path] = Scalar(node.start_mark.line + 1, node.value, node.style is None, node.tag)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode):
                scalars[(*child, "[key]")] = Scalar(key_node.start_mark.line + 1, key_node.value,
                                                    key_node.style is None, key_node.tag)
            _index(loader, value_node, child, lines, scalars)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(loader, item, (*path, i), lines, scalars)


def load(path: Path | str) -> Source:
    """Read and parse one parameter file; SourceError names what is wrong and where."""
    raw = read_bytes(Path(path))
    data, lines, scalars = parse(decode(raw))
    return Source(raw, data, lines, scalars)
