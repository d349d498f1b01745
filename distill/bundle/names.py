"""What a model may be called: a name that is also a safe file name on every system."""

from __future__ import annotations

MAX_NAME_LENGTH = 128
# Path separators and the characters Windows refuses in file names.
_FORBIDDEN_NAME_CHARS = frozenset('/\\:<>"|?*')
_WINDOWS_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a model (and file) name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a name must be non-empty text"
    if name.startswith("."):
        return "it starts with a dot"
    if forbidden := sorted(set(name) & _FORBIDDEN_NAME_CHARS):
        return f"it contains {forbidden[0]!r}, a path separator or a character Windows forbids"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "it contains a control character"
    if name != name.strip() or name.endswith("."):
        return "it starts or ends with a space, or ends with a dot"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    if name.split(".")[0].upper() in _WINDOWS_DEVICE_NAMES:
        return "it is a device name on Windows"
    return None
