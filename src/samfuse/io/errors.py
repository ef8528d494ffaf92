"""The one exception type for bad user input."""


class InputError(Exception):
    """Bad input (unreadable file, wrong size, missing partner, ...).

    ``str(err)`` is a single line that names the file(s) and the reason, fit to print as is;
    command-line tools catch it per item and never show a traceback for it.
    """
