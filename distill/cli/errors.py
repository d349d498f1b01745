"""Turn user errors into one red line and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from distill.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C


def fail(message: str) -> None:
    """Print ``message`` as one error line on stderr and exit with code 2."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")
    sys.exit(EXIT_USER_ERROR)


def interrupted(message: str) -> None:
    """Say what a Ctrl-C left (``message``) on one line of stderr and exit with code 130."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold yellow]interrupted:[/] {message}")
    sys.exit(EXIT_INTERRUPTED)


def usage_error_line(error: Exception) -> str:
    """A click usage error (a bad value, a missing argument, an unknown option) as one sentence,
    with where to read the command's usage."""
    message = " ".join(error.format_message().split()) if hasattr(error, "format_message") else str(error)
    if "is not readable" in message:  # click's own check of a path's permissions
        message += " Check its and its folders' permissions, or choose another place."
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        message += f" (`{ctx.command_path} --help` shows its usage.)"
    return message


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """User errors, and file-system failures that name their file (permission denied, a read-only
    disk, a folder in the way, a file gone), end as one line and exit 2; anything else is a bug
    and keeps its traceback."""
    from distill.files import file_system_error

    try:
        yield
    except UserError as error:
        fail(str(error))
    except OSError as error:
        if (told := file_system_error(error)) is None:
            raise
        fail(str(told))
