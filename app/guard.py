"""Run one UI step so that a failure shows a message, never a traceback.

A GalaxyCoreError's message is written for the user and shown as is; any
other exception is logged with its traceback (server side) and the user sees a
short generic message naming the step.  Streamlit's own control flow
(``st.stop``, ``st.rerun``) derives from BaseException and passes through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from galaxy_core.errors import GalaxyCoreError

log = logging.getLogger("galaxy_app")


class StepFailed(Exception):
    """Raised by :func:`guarded` (when ``reraise``) after the error was shown."""


@contextmanager
def guarded(step: str, *, reraise: bool = False) -> Iterator[None]:
    """Show ``st.error`` for any exception raised inside, naming ``step``.

    With ``reraise=True`` a :class:`StepFailed` follows the message, so the
    caller can skip the steps that depend on this one.
    """
    try:
        yield
    except GalaxyCoreError as err:
        st.error(str(err), icon=":material/error:")
        if reraise:
            raise StepFailed(step) from err
    except Exception as err:
        log.exception("Unexpected failure while %s", step)
        st.error(
            f"Something went wrong while {step} ({type(err).__name__}). The details are in the "
            "server log; please report them with the file you used.",
            icon=":material/error:",
        )
        if reraise:
            raise StepFailed(step) from err
