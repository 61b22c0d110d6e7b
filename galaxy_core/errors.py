"""The one exception type the project raises for bad input or a failed step."""

from __future__ import annotations


class GalaxyCoreError(Exception):
    """A failure whose message is written for the user (UI and CLI show it as is).

    Raise it for anything a user can cause: unreadable or hostile files, shapes
    that make no sense, fields too large, missing weights.  Never wrap a
    programming error in it.
    """
