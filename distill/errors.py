"""The base of every error whose message is meant for the user, not for a traceback."""


class UserError(Exception):
    """Raised with one clear sentence naming the file or value and what to do; CLIs print just that."""
