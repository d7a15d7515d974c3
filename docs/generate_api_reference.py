#!/usr/bin/env python3
"""Generate ``docs/api.md``, the API reference, from the docstrings of the public surface.

Usage::

    python docs/generate_api_reference.py            # (re)write docs/api.md
    python docs/generate_api_reference.py --check    # exit 1 when docs/api.md is stale
    python docs/generate_api_reference.py --lint     # exit 1 when a public name breaks the docstring rule

The public surface is :data:`SURFACE`: ``align_instrument.__all__``, ``align_instrument.langchain``'s
``__all__``, the collector's ``start_collector`` and what it returns, the local LLM server, and the
``align-instrument`` command line (rendered from its argparse parser, not from ``--help`` text, so the
output does not depend on the terminal width or the Python version).

The docstring rule (:func:`offenders`), checked by ``tests/test_api_reference.py``:

1. Every public name has a docstring of its own: functions, classes, their public methods and
   properties, and module-level constants (an attribute docstring: a string literal on the line
   after the assignment, as Sphinx reads it).
2. Every public callable (function, class, public method) has an ``Example:`` section, and an
   ``Args:`` section naming each of its parameters other than ``self``/``cls`` (a class may
   document its constructor's parameters in the class docstring or in ``__init__``'s; an entry
   may name several, ``api_key, project_id, host: ...``; ``*args``/``**kwargs`` by their names).
3. A callable whose own body contains a ``raise`` statement (not a bare re-raise) has a
   ``Raises:`` section.
4. Every argument of the ``align-instrument`` command line has a help text.

Explicit exceptions, by category (see :func:`_kind`):

- exception classes need a docstring only (apps catch them, they do not build them);
- record types (``NamedTuple``, ``TypedDict``, dataclasses) need their fields in an
  ``Attributes:`` (or ``Args:``) section instead of an example;
- methods that implement a third-party base class's protocol (LangChain callbacks and chat
  history methods) need nothing: the base class documents them; they are listed by name;
- properties need a docstring, not an example;
- names in :data:`EXEMPT` (with the reason given there).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import re
import sys
import textwrap
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "api.md"
PACKAGE = "align_instrument"


@dataclass(frozen=True)
class Section:
    """One module's part of the reference: which names it documents, exported from where."""

    module: str
    names: tuple[str, ...] | None  # None: the module's ``__all__``
    intro: str = ""


SURFACE: tuple[Section, ...] = (
    Section("align_instrument", None),
    Section("align_instrument.langchain", None),
    Section("align_instrument.llamaindex", None),
    Section(
        "align_instrument.collector",
        ("start_collector", "RunningCollector", "Store", "SessionSummary", "SessionDetail", "Message"),
        "The local collector, in-process (the same server as `align-instrument serve`).",
    ),
    Section("align_instrument.local_llm", None),
)
"""What the reference documents, in this order."""

EXEMPT: dict[str, str] = {
    "align_instrument.__version__": "a version string, described in the package docstring",
}
"""Qualified names exempt from the docstring rule, with the reason."""

FACTORY_MADE: dict[str, str] = {
    "align_instrument.collector.RunningCollector": "start_collector",
    "align_instrument.local_llm.RunningLLM": "start_local_llm",
}
"""Classes that apps get from a factory function and never construct: their class docstring needs no
``Args`` or ``Example`` (the factory's has them); their methods follow the rule."""

SECTION_RE = re.compile(
    r"^(Args|Arguments|Parameters|Attributes|Returns|Yields|Raises|Examples?|Note|Notes):\s*$"
)
DOCTEST_RE = re.compile(r"^(>>>|\.\.\.)( |$)")


# --- collecting the surface --------------------------------------------------------------------------


@dataclass
class Entry:
    """One documented name: a module-level object, or a method/property of a documented class."""

    qualname: str  # e.g. "align_instrument.AlignClient.flush"
    name: str
    obj: object
    kind: str  # function, class, exception, record, method, property, constant, protocol
    owner: type | None = None
    members: list[Entry] = field(default_factory=list)


def _is_record(cls: type) -> bool:
    if dataclasses.is_dataclass(cls):
        return True
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return True
    return typing.is_typeddict(cls)


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exception"
        if _is_record(obj):
            return "record"
        return "class"
    if callable(obj):
        return "function"
    return "constant"


def _ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _private_mixin(base: type) -> bool:
    """One of our classes from a private module: its members are documented on the public class."""
    return _ours(base) and "._" in base.__module__


def _class_members(cls: type, qualname: str) -> list[Entry]:
    """Public methods and properties that ``cls`` defines, itself or through one of our private
    mixins (a base class from a private module, e.g. ``integrations._user``); not inherited ones."""
    external = [base for base in cls.__mro__[1:] if base is not object and not _ours(base)]
    mixins = [base for base in cls.__mro__[1:] if _private_mixin(base)]
    defined: dict[str, object] = {}
    for owner in [*reversed(mixins), cls]:
        defined.update(vars(owner))
    members: list[Entry] = []
    for name, raw in sorted(defined.items()):
        if name.startswith("_"):
            continue
        if dataclasses.is_dataclass(cls) and name in {f.name for f in dataclasses.fields(cls)}:
            continue
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if isinstance(raw, property):
            kind = "property"
        elif inspect.isfunction(raw):
            kind = "method"
        else:
            continue
        if any(name in vars(base) for base in external):
            kind = "protocol"
        members.append(Entry(f"{qualname}.{name}", name, raw, kind, owner=cls))
    return members


def collect() -> list[tuple[Section, ModuleType, list[Entry]]]:
    """Import the public surface and describe every name in it."""
    out = []
    for section in SURFACE:
        module = importlib.import_module(section.module)
        names = section.names if section.names is not None else tuple(getattr(module, "__all__", ()))
        entries = []
        for name in names:
            obj = getattr(module, name)
            qualname = f"{section.module}.{name}"
            entry = Entry(qualname, name, obj, _kind(obj))
            if inspect.isclass(obj) and entry.kind != "exception":
                entry.members = _class_members(obj, qualname)
            entries.append(entry)
        out.append((section, module, entries))
    return out


# --- docstrings --------------------------------------------------------------------------------------


def own_doc(entry: Entry) -> str:
    """The entry's own docstring, dedented ("" when it has none).

    Inherited docstrings count for methods that override a documented method of this package
    (``AlignAI.flush`` is documented by ``AlignClient.flush``); a class never inherits one, and the
    docstrings Python generates for named tuples and dataclasses do not count.
    """
    obj = entry.obj
    if entry.kind == "constant":
        return _attribute_doc(entry) or ""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if not isinstance(doc, str):
            return ""
        if dataclasses.is_dataclass(obj) and doc.startswith(obj.__name__ + "("):
            return ""
        if issubclass(obj, tuple) and doc.startswith(obj.__name__ + "("):
            return ""
        return inspect.cleandoc(doc)
    if entry.kind in ("method", "protocol") and entry.owner is not None:
        doc = inspect.getdoc(getattr(entry.owner, entry.name))
        return doc or ""
    return inspect.getdoc(obj) or ""


def _attribute_doc(entry: Entry) -> str | None:
    """The string literal after ``NAME = ...`` in the module that defines the constant."""
    exported_from = importlib.import_module(entry.qualname.rsplit(".", 1)[0])
    for module in _candidate_modules(exported_from, entry.name):
        try:
            tree = ast.parse(inspect.getsource(module))
        except (OSError, TypeError):
            continue
        body = tree.body
        for i, node in enumerate(body):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if not any(isinstance(t, ast.Name) and t.id == entry.name for t in targets):
                continue
            following = body[i + 1] if i + 1 < len(body) else None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                return inspect.cleandoc(following.value.value)
            return None
    return None


def _candidate_modules(module: ModuleType, name: str) -> Iterator[ModuleType]:
    """The module itself, then the package modules it imports ``name`` from."""
    yield module
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(alias.name == name for alias in node.names):
            package = module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
            target = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            yield importlib.import_module(target)


def sections_of(doc: str) -> dict[str, list[str]]:
    """Google-style sections of a docstring: ``{"": summary lines, "Args": [...], ...}``."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in doc.splitlines():
        match = SECTION_RE.match(line)
        if match:
            current = match.group(1)
            current = {"Arguments": "Args", "Parameters": "Args", "Examples": "Example"}.get(current, current)
            out.setdefault(current, [])
            continue
        out[current].append(line)
    return out


def documented_names(lines: list[str]) -> set[str]:
    """Parameter names of an ``Args:``/``Attributes:`` section's entries (``a, b: ...`` names two)."""
    body = textwrap.dedent("\n".join(lines)).splitlines()
    names: set[str] = set()
    for line in body:
        if not line or line[0].isspace() or ":" not in line:
            continue
        head = line.split(":", 1)[0]
        head = re.sub(r"\(.*?\)", "", head)  # "name (type)"
        for part in head.split(","):
            part = part.strip().strip("`").lstrip("*")
            if part.isidentifier():
                names.add(part)
    return names


def _parameters(entry: Entry) -> list[str]:
    """The parameter names a callable's ``Args`` must cover."""
    obj = entry.obj
    target: object = obj
    if inspect.isclass(obj):
        if _is_record(obj):
            if typing.is_typeddict(obj):
                return list(obj.__annotations__)
            if dataclasses.is_dataclass(obj):
                inherited = {
                    f.name
                    for base in obj.__mro__[1:]
                    if dataclasses.is_dataclass(base)
                    for f in dataclasses.fields(base)
                }
                return [f.name for f in dataclasses.fields(obj) if f.init and f.name not in inherited]
            return list(getattr(obj, "_fields", ()))
        target = obj
    try:
        signature = inspect.signature(target)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    names = []
    for name in signature.parameters:
        if name in ("self", "cls") or name.startswith("_"):
            continue
        names.append(name)
    return names


def _raises(entry: Entry) -> bool:
    """Whether the callable's own body (or a class's ``__init__``) has a non-bare ``raise``."""
    obj = entry.obj
    if inspect.isclass(obj):
        obj = obj.__dict__.get("__init__")
        if obj is None:
            return False
    try:
        source = textwrap.dedent(inspect.getsource(obj))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        return False
    return any(isinstance(node, ast.Raise) and node.exc is not None for node in _walk_own(functions[0]))


def _walk_own(function: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _location(entry: Entry) -> str:
    obj = entry.obj
    if isinstance(obj, property):
        obj = obj.fget
    if entry.kind == "constant":
        return _constant_location(entry)
    try:
        path = inspect.getsourcefile(obj)  # type: ignore[arg-type]
        _, line = inspect.getsourcelines(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return entry.qualname
    if path is None:
        return entry.qualname
    try:
        shown = Path(path).resolve().relative_to(ROOT)
    except ValueError:
        shown = Path(path)
    return f"{shown}:{max(line, 1)}"


def _constant_location(entry: Entry) -> str:
    exported_from = importlib.import_module(entry.qualname.rsplit(".", 1)[0])
    for module in _candidate_modules(exported_from, entry.name):
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            continue
        for number, line in enumerate(source.splitlines(), 1):
            if re.match(rf"^{re.escape(entry.name)}\s*(:|=)", line):
                path = Path(inspect.getsourcefile(module) or module.__name__)
                with contextlib.suppress(ValueError):
                    path = path.resolve().relative_to(ROOT)
                return f"{path}:{number}"
    return entry.qualname


def _entry_offences(entry: Entry) -> list[str]:
    if entry.qualname in EXEMPT or entry.kind == "protocol":
        return []
    doc = own_doc(entry)
    if not doc:
        if entry.kind == "constant":
            return ["no attribute docstring (a string literal after the assignment)"]
        return ["no docstring"]
    if entry.kind in ("constant", "property", "exception") or entry.qualname in FACTORY_MADE:
        return []
    sections = sections_of(doc)
    problems = []
    params = _parameters(entry)
    if entry.kind == "record":
        listed = documented_names(sections.get("Attributes", []) + sections.get("Args", []))
        missing = [p for p in params if p not in listed]
        if missing:
            problems.append(f"fields not in an Attributes: section: {', '.join(missing)}")
        return problems
    listed = documented_names(sections.get("Args", []))
    if entry.kind == "class":
        init = entry.obj.__dict__.get("__init__") if inspect.isclass(entry.obj) else None
        init_doc = inspect.getdoc(init) if init is not None else None
        if init_doc:
            init_sections = sections_of(init_doc)
            listed |= documented_names(init_sections.get("Args", []))
            sections.setdefault("Raises", init_sections.get("Raises", []))
            sections.setdefault("Example", init_sections.get("Example", []))
    missing = [p for p in params if p not in listed]
    if missing:
        problems.append(f"parameters not in an Args: section: {', '.join(missing)}")
    if "Example" not in sections or not any(line.strip() for line in sections["Example"]):
        problems.append("no Example: section")
    if _raises(entry) and "Raises" not in sections:
        problems.append("raises, but no Raises: section")
    return problems


def _cli_offences() -> list[str]:
    """Command-line arguments without a help text (it is their documentation)."""
    out = []
    for command, action in _cli_actions():
        if not action.help:
            flag = "/".join(action.option_strings) or action.dest.upper()
            out.append(f"align_instrument/cli.py align-instrument {command} {flag}: no help text")
    return out


def _cli_actions() -> Iterator[tuple[str, argparse.Action]]:
    from align_instrument import cli

    for action in cli._parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for sub_action in sub._actions:
                    if not isinstance(sub_action, argparse._HelpAction):
                        yield name, sub_action


def offenders(collected: list[tuple[Section, ModuleType, list[Entry]]] | None = None) -> list[str]:
    """Every breach of the docstring rule, as ``"file:line qualname: what is missing"``."""
    out = _cli_offences()
    for _section, _module, entries in collected if collected is not None else collect():
        for entry in entries:
            for item in [entry, *entry.members]:
                for problem in _entry_offences(item):
                    out.append(f"{_location(item)} {item.qualname}: {problem}")
    return out


# --- rendering -----------------------------------------------------------------------------------------

_ROLE_RE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj):`~?([^`]+)`")


def _inline(text: str) -> str:
    """reST inline markup to markdown: ``x`` -> `x`, :class:`~a.B` -> `B`."""

    def role(match: re.Match[str]) -> str:
        target = match.group(1)
        return f"`{target.rsplit('.', 1)[-1] if match.group(0).count('~') else target}`"

    text = _ROLE_RE.sub(role, text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def render_doc(doc: str) -> list[str]:
    """A Google-style docstring as markdown lines."""
    out: list[str] = []
    for name, lines in sections_of(doc).items():
        if name == "":
            out.extend(_render_prose(lines))
            continue
        out.append(f"**{name}**")
        out.append("")
        if name == "Example":
            out.extend(_render_code(lines))
        elif name in ("Args", "Attributes", "Raises"):
            out.extend(_render_entries(lines))
        else:
            out.extend(_render_prose(textwrap.dedent("\n".join(lines)).splitlines()))
        out.append("")
    while out and not out[-1]:
        out.pop()
    return out


def _render_prose(lines: list[str]) -> list[str]:
    """Paragraphs and bullets as they are; an indented block after ``::`` becomes a code block."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            text = line.rstrip()[:-1].rstrip()
            if text.endswith(":"):
                pass
            elif text:
                text += ":"
            if text:
                out.append(_inline(text))
            out.append("")
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out.append("```python")
            out.extend(textwrap.dedent("\n".join(block)).splitlines())
            out.append("```")
            out.append("")
            continue
        stripped = line.strip()
        in_bullet = bool(out) and bool(out[-1]) and (out[-1].startswith("- ") or out[-1].startswith("  "))
        out.append(_inline(("  " + stripped) if line[:1].isspace() and in_bullet and stripped else stripped))
        i += 1
    while out and not out[-1]:
        out.pop()
    out.append("")
    return out


def _render_code(lines: list[str]) -> list[str]:
    body = textwrap.dedent("\n".join(lines)).strip("\n").splitlines()
    fence = "pycon" if any(DOCTEST_RE.match(line) for line in body) else "python"
    return [f"```{fence}", *body, "```"]


def _render_entries(lines: list[str]) -> list[str]:
    """``name: text`` entries (continuation lines indented) as a bullet list."""
    out: list[str] = []
    for line in textwrap.dedent("\n".join(lines)).splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() and ":" in line:
            head, text = line.split(":", 1)
            names = ", ".join(f"`{part.strip()}`" for part in head.split(","))
            out.append(f"- {names}: {_inline(text.strip())}".rstrip())
        elif out:
            out[-1] += " " + _inline(line.strip())
        else:
            out.append(f"- {_inline(line.strip())}")
    return out


def _format_parameters(signature: inspect.Signature, skip_first: bool) -> tuple[list[str], str]:
    """Parameters as source-like text (string annotations unquoted), and the return annotation."""
    params = [p for name, p in signature.parameters.items() if not name.startswith("_")]
    if skip_first and params and params[0].name in ("self", "cls"):
        params = params[1:]
    parts: list[str] = []
    seen_keyword_only = False
    for i, param in enumerate(params):
        if param.kind is param.KEYWORD_ONLY and not seen_keyword_only:
            seen_keyword_only = True
            parts.append("*")
        if param.kind is param.VAR_POSITIONAL:
            seen_keyword_only = True
        stars = "*" if param.kind is param.VAR_POSITIONAL else "**" if param.kind is param.VAR_KEYWORD else ""
        text = stars + param.name
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
        if param.default is not param.empty:
            text += (" = " if param.annotation is not param.empty else "=") + _default(param.default)
        parts.append(text)
        following = params[i + 1] if i + 1 < len(params) else None
        if param.kind is param.POSITIONAL_ONLY and (
            following is None or following.kind is not param.POSITIONAL_ONLY
        ):
            parts.append("/")
    returns = ""
    if signature.return_annotation is not signature.empty:
        returns = f" -> {_annotation(signature.return_annotation)}"
    return parts, returns


def _annotation(annotation: object) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, typing.ForwardRef):
        return annotation.__forward_arg__
    if isinstance(annotation, type):
        return annotation.__qualname__
    return re.sub(r"\b(typing|collections\.abc)\.", "", repr(annotation))


def _default(value: object) -> str:
    text = repr(value)
    if inspect.isfunction(value) or inspect.isclass(value):
        text = value.__qualname__
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _signature(entry: Entry) -> str:
    obj = entry.obj
    if isinstance(obj, property):
        return f"{entry.name}"
    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"{entry.name}(...)"
    parts, returns = _format_parameters(signature, skip_first=entry.kind in ("method", "protocol"))
    prefix = "async " if inspect.iscoroutinefunction(obj) else ""
    if inspect.isclass(obj):
        returns = ""
    one_line = f"{prefix}{entry.name}({', '.join(parts)}){returns}"
    if len(one_line) <= 100:
        return one_line
    body = "".join(f"    {part},\n" for part in parts)
    return f"{prefix}{entry.name}(\n{body}){returns}"


def _anchor(qualname: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", qualname.lower().replace(".", ""))


def _render_entry(entry: Entry) -> list[str]:
    out = [f"### `{entry.qualname}`", ""]
    kind = {"record": "class", "exception": "exception"}.get(entry.kind, entry.kind)
    if entry.kind == "constant":
        out += ["```python", f"{entry.name} = {entry.obj!r}", "```", ""]
    elif entry.kind == "exception":
        bases = ", ".join(b.__name__ for b in entry.obj.__bases__)  # type: ignore[attr-defined]
        out += ["```python", f"class {entry.name}({bases})", "```", ""]
    elif entry.kind in ("class", "record"):
        if typing.is_typeddict(entry.obj):
            out += ["```python", f"class {entry.name}(TypedDict, total=False)", "```", ""]
        elif entry.qualname in FACTORY_MADE:
            factory = FACTORY_MADE[entry.qualname]
            note = f"Returned by `{factory}()`; not built directly."
            out += ["```python", f"class {entry.name}", "```", "", note, ""]
        else:
            out += ["```python", f"class {_signature(entry)}", "```", ""]
    else:
        out += ["```python", f"{'def ' if kind == 'function' else ''}{_signature(entry)}", "```", ""]
    cls = entry.obj if inspect.isclass(entry.obj) else None
    if cls is not None and entry.kind in ("class", "record") and not typing.is_typeddict(cls):
        shown_bases = [b for b in cls.__bases__ if b not in (object, tuple) and not _private_mixin(b)]
        if shown_bases:
            out += ["Bases: " + ", ".join(f"`{_base_name(b)}`" for b in shown_bases), ""]
    doc = own_doc(entry)
    out += render_doc(doc) if doc else ["*(no docstring)*"]
    out.append("")
    methods = [m for m in entry.members if m.kind != "protocol"]
    protocol = [m for m in entry.members if m.kind == "protocol"]
    for member in methods:
        out.append(f"#### `{entry.name}.{member.name}`")
        out.append("")
        prefix = "" if member.kind == "property" else "def "
        label = " *(property)*" if member.kind == "property" else ""
        out += ["```python", f"{prefix}{_signature(member)}", "```", ""]
        if label:
            out += [label.strip(), ""]
        member_doc = own_doc(member)
        out += render_doc(member_doc) if member_doc else ["*(no docstring)*"]
        out.append("")
    if protocol and cls is not None:
        external = [b.__name__ for b in cls.__bases__ if not _ours(b)]
        names = ", ".join(f"`{m.name}`" for m in protocol)
        out += [f"Implements these methods of {', '.join(f'`{b}`' for b in external)}: {names}.", ""]
    return out


def _base_name(base: type) -> str:
    if _ours(base) or base.__module__ == "builtins":
        return base.__name__
    return f"{base.__module__}.{base.__qualname__}"


def _module_summary(module: ModuleType) -> list[str]:
    doc = inspect.getdoc(module) or ""
    return render_doc(doc) if doc else []


def render_cli() -> list[str]:
    """The ``align-instrument`` subcommands and their options, from the argparse parser."""
    from align_instrument import cli

    parser = cli._parser()
    out = ["## Command line: `align-instrument`", ""]
    if parser.description:
        out += [parser.description, ""]
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        return out
    helps = {c.dest: c.help or "" for c in subparsers[0]._choices_actions}
    for name, sub in subparsers[0].choices.items():
        out += [f"### `align-instrument {name}`", "", helps.get(name, ""), ""]
        rows = []
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if action.option_strings:
                metavar = action.metavar or (action.dest.upper() if action.nargs != 0 else "")
                flags = ", ".join(action.option_strings)
                flag = f"{flags} {metavar}".strip() if action.nargs != 0 else flags
            else:
                flag = action.metavar or action.dest.upper()
            choices = f" (one of {', '.join(map(str, action.choices))})" if action.choices else ""
            shown_default = action.option_strings and action.default not in (None, argparse.SUPPRESS)
            default = f"`{action.default}`" if shown_default else ""
            meaning = (action.help or "").replace("|", "/")
            rows.append(f"| `{flag}` | {default} | {meaning}{choices} |")
        if rows:
            out += ["| argument | default | meaning |", "|---|---|---|", *rows, ""]
    return out


def render(collected: list[tuple[Section, ModuleType, list[Entry]]] | None = None) -> str:
    """The whole reference, as markdown (deterministic: same code, same output)."""
    collected = collected if collected is not None else collect()
    out = [
        "# API reference",
        "",
        "<!-- Generated by docs/generate_api_reference.py from the docstrings; do not edit by hand. -->",
        "<!-- Regenerate: python docs/generate_api_reference.py (CI fails when this file is stale). -->",
        "",
        "The public surface of `align_instrument`. Start with the [README](../README.md) and the",
        "[quickstart notebook](../notebooks/quickstart.ipynb).",
        "",
    ]
    for section, _module, entries in collected:
        out.append(f"- [`{section.module}`](#{_anchor(section.module)})")
        for entry in entries:
            out.append(f"  - [`{entry.name}`](#{_anchor(entry.qualname)})")
    out.append("- [Command line: `align-instrument`](#command-line-align-instrument)")
    out.append("")
    for section, module, entries in collected:
        out += [f"## `{section.module}`", ""]
        if section.intro:
            out += [section.intro, ""]
        elif section.names is None:
            out += _module_summary(module)
            out.append("")
        for entry in entries:
            out += _render_entry(entry)
    out += render_cli()
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    """Write, check or lint the API reference; returns the exit status."""
    parser = argparse.ArgumentParser(description="Generate docs/api.md from the docstrings.")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/api.md is out of date")
    parser.add_argument("--lint", action="store_true", help="exit 1 when a name breaks the docstring rule")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"file to write (default {OUTPUT})")
    args = parser.parse_args(argv)
    collected = collect()
    status = 0
    if args.lint:
        found = offenders(collected)
        for line in found:
            print(line)
        if found:
            print(f"{len(found)} docstring rule offence(s)", file=sys.stderr)
            status = 1
    text = render(collected)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python docs/generate_api_reference.py", file=sys.stderr)
            return 1
        return status
    if not args.lint:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
