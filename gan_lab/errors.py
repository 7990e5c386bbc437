"""The one exception type users see: a message that names the problem and the fix."""


class GanLabError(Exception):
    """A problem with the user's input or files; the CLI prints it without a traceback."""
