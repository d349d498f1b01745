"""``DistillTyper``: a ``typer.Typer`` whose ``--help`` reads like the rest of distill's output.

Typer's rich help (0.29) prints ``<bool>`` beside every flag (``--plot <bool>``, ``--help <bool>``),
writes a required argument as ``{folder}`` in the usage line, keeps the line breaks of a wrapped
docstring (ragged lines in the command list) and reads help text as rich markup (so
``distill[bigvgan]`` lost its ``[bigvgan]``). Every app, sub-app and command of ``distill`` is built
through ``DistillTyper``, so one place fixes all of them, commands added later included:

- flags show no type: they take no value;
- usage reads ``distill scan [OPTIONS] FOLDER`` (an optional argument ``[FOLDER]``), the argument is
  named ``FOLDER`` in its panel and in errors, as the docstrings call it;
- the single line breaks inside a help paragraph are joined (rich wraps to the terminal's width);
- help text is plain text: brackets are shown, never taken as markup.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _prose(text: str | None) -> str | None:
    """``text`` with each paragraph on one line, brackets escaped from rich markup.

    A paragraph that starts with ``\\b`` keeps its line breaks (click's marker for preformatted text).
    """
    if not text:
        return text
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    joined = [p if p.startswith("\b") else " ".join(p.split("\n")) for p in paragraphs]
    return escape("\n\n".join(joined))


def _tidy(param: Any) -> None:
    if isinstance(param, TyperArgument) and param.metavar is None and param.name:
        param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
    elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""  # typer shows the metavar instead of the type: nothing, for a flag
    if isinstance(param, TyperArgument | TyperOption) and param.help:
        param.help = escape(param.help)


def _argument_usage(param: TyperArgument) -> str:
    name = param.metavar or (param.name or "").upper()  # set by _tidy, with "..." when repeatable
    return name if param.required else f"[{name}]"


class _CleanHelp:
    """What ``DistillCommand`` and ``DistillGroup`` change in typer's help (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = _prose(self.help)
        self.short_help = _prose(self.short_help)
        self.epilog = _prose(self.epilog)
        for param in self.params:
            _tidy(param)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _tidy(option)
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_argument_usage(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        if isinstance(self, TyperGroup):
            pieces.append(self.subcommand_metavar)
        return pieces


class DistillCommand(_CleanHelp, TyperCommand):
    pass


class DistillGroup(_CleanHelp, TyperGroup):
    pass


class DistillTyper(typer.Typer):
    """``typer.Typer`` with ``DistillGroup`` for itself and ``DistillCommand`` for its commands."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", DistillGroup)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any):
        return super().command(name, cls=cls or DistillCommand, **kwargs)
