"""The one exception type whose message is meant for the user.

Anything the user can fix (a missing file, a wrong column, a bad number) is raised as
`UserError` with a message that says what is wrong and what to do. The CLI prints it as
one line and exits 2; the GUI shows it in a dialog. Everything else is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, explained in words the user can act on."""
