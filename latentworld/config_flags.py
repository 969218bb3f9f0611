"""Command-line flags generated from a config dataclass, so a flag and its field cannot drift.

Each field ``some_name`` becomes ``--some-name`` with the field's type, default and docstring
(the string under the field, read from the class's source): bools take ``--x`` / ``--no-x``,
optional numbers take ``none``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from typing import Any


def field_docs(cls: type) -> dict[str, str]:
    """{field name: the docstring written under it} of a dataclass (empty where none)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (frozen app): flags keep their names and defaults
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _parser_for(tp: Any) -> tuple[Any, bool]:
    """(a str -> value converter, whether None is allowed) for a field's type."""
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp) if args else tp
    if base not in (int, float, str, bool):
        raise TypeError(f"no flag type for {tp!r}")

    def convert(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            return base(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected {base.__name__}{' or none' if optional else ''}, "
                                             f"got {text!r}") from e

    convert.__name__ = base.__name__
    return convert, optional


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
                     only_given: bool = False) -> list[str]:
    """Add a flag for every field of dataclass ``cls`` but ``skip``; returns the field names added.

    ``only_given``: flags left out parse to None (read them with :func:`given_args`), for
    configs built from a preset that a flag should only override when given."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    added = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"{docs.get(f.name, '')} (default: {default})".replace("%", "%%")
        if only_given:
            default = None
        if hints[f.name] is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        else:
            convert, _ = _parser_for(hints[f.name])
            parser.add_argument(flag, dest=f.name, type=convert, default=default, help=help_text,
                                metavar=convert.__name__.upper())
        added.append(f.name)
    return added


def config_from_args(cls: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """An instance of ``cls`` from the parsed flags (fields without a flag take ``fixed``)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**values, **fixed})


def given_args(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` whose ``only_given`` flags were given: {name: value}."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}
