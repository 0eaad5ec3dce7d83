"""User-facing errors.

A `UserError` is a mistake in what the user gave us (a path, a field, a name). The CLI prints it
as one line, `nas: error: <message>`, and exits with code 2 — no traceback. Everything else is a
bug in our code and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A bad input the user can fix; the message names the file/field and what was expected."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """Build the error for an unknown registry name, listing close matches (or all names)."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f"did you mean: {', '.join(close)}?" if close else f"known: {', '.join(known) or '(none)'}"
    return UserError(f"unknown {kind} '{name}'; {hint}")
