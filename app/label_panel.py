"""The user's labels: one click gives a detection its class, and the labels are counted,
undone, exported and imported.

Labels belong to a field, not to a run: they are kept in the session per field
key as a label table (:mod:`galaxy_core.catalog.labels`), and each run finds
its labelled detections by position (:func:`galaxy_core.morphology.labelled.labels_on`),
so a re-run with other settings shows them again.  Every change keeps the table
before it, so "Undo last label" steps back.
"""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from app.caching import LoadedField, StoredRun
from app.field_figure import SHORT
from app.guard import guarded
from galaxy_core.catalog.labels import (
    LABEL_VALUES,
    SKIP,
    class_counts,
    format_of,
    labels_bytes,
    labels_frame,
    labels_from_bytes,
)
from galaxy_core.morphology.labelled import clear_label, for_run, labels_on, set_label
from galaxy_core.types import Detection

#: Session keys: each field's label table, and the tables before each change.
LABELS, UNDO = "labels", "labels_history"
#: The last imported label file (its upload id), so it is read once.
IMPORTED = "labels_imported"
#: Changes kept for undo, per field.
UNDO_DEPTH = 200


def field_name(loaded: LoadedField) -> str:
    """The field's name in label tables: the demo's key (``demo:xdf``, which the command line
    reads), else the uploaded file's name."""
    return loaded.key if loaded.key.startswith("demo:") else (loaded.stem or loaded.field.name)


def label_table(loaded: LoadedField) -> pd.DataFrame:
    """This field's label table (empty when nothing is labelled; shared: do not modify it)."""
    found = st.session_state.setdefault(LABELS, {}).get(loaded.key)
    return found if found is not None else _empty_table(field_name(loaded))


@functools.lru_cache(maxsize=32)
def _empty_table(name: str) -> pd.DataFrame:
    """The empty label table of a field (made once: every page run asks for it)."""
    return labels_frame([], field=name)


def _table_csv(table: pd.DataFrame, name: str) -> bytes:
    """The label table as CSV (the empty one's made once per field)."""
    return _empty_csv(name) if table.empty else labels_bytes(table)


@functools.lru_cache(maxsize=32)
def _empty_csv(name: str) -> bytes:
    return labels_bytes(_empty_table(name))


def _change(fkey: str, table: pd.DataFrame) -> None:
    """Keep ``table`` as the field's labels, the one before it for undo."""
    before = st.session_state.setdefault(LABELS, {}).get(fkey)
    undo = st.session_state.setdefault(UNDO, {}).setdefault(fkey, [])
    undo.append(before)
    del undo[:-UNDO_DEPTH]
    st.session_state[LABELS][fkey] = table


def _set(loaded: LoadedField, d: Detection, label: str) -> None:
    _change(loaded.key, set_label(label_table(loaded), d, label, field=field_name(loaded)))


def _clear(loaded: LoadedField, d: Detection) -> None:
    _change(loaded.key, clear_label(label_table(loaded), d, field=field_name(loaded)))


def _undo(fkey: str) -> None:
    undo = st.session_state.get(UNDO, {}).get(fkey)
    if undo:
        st.session_state[LABELS][fkey] = undo.pop()


def run_labels(loaded: LoadedField, stored: StoredRun) -> dict[int, str]:
    """The label of each labelled detection of this run, by id (found by position)."""
    table = label_table(loaded)
    if table.empty:
        return {}
    return labels_on(table, stored.result.detections, field=field_name(loaded))


def label_buttons(loaded: LoadedField, d: Detection, current: str | None, *, key: str) -> None:
    """One button per class and "skip" giving ``d`` that label (the current one highlighted),
    and a clear button when it has one."""
    st.markdown(f"**Your label of #{d.id}**" + (f": {SHORT.get(current, current)}" if current else
                                                " (one click sets it)"))
    with st.container(horizontal=True, gap="small"):
        for value in LABEL_VALUES:
            st.button(SHORT.get(value, value) if value != SKIP else "Skip", key=f"{key}_{value}",
                      type="primary" if value == current else "secondary", on_click=_set,
                      args=(loaded, d, value), help=f"Label #{d.id} {value}")
        if current is not None:
            st.button("Clear", key=f"{key}_clear", icon=":material/backspace:", on_click=_clear,
                      args=(loaded, d), help=f"Remove your label of #{d.id}")


def counts_line(table: pd.DataFrame) -> str:
    """Labels per class in one line (classes without labels left out), skips last."""
    parts = [f"{SHORT.get(c, c)} **{n}**" for c, n in class_counts(table).items() if n]
    skipped = int((table["label"] == SKIP).sum())
    parts += [f"skipped **{skipped}**"] if skipped else []
    return " · ".join(parts) if parts else "No labels yet."


def label_section(loaded: LoadedField, stored: StoredRun, labels: dict[int, str]) -> pd.DataFrame:
    """Counts, undo, export and import of this field's labels; returns the field's table."""
    table = label_table(loaded)
    st.subheader("Your labels")
    st.caption("Open a detection (click its box or its row) and click its class, or Skip. "
               f"{len(labels)} of this run's detections carry your label.")
    st.markdown(counts_line(table))
    left, mid, right = st.columns(3)
    with left:
        st.button("Undo last label", key="labels_undo", icon=":material/undo:",
                  disabled=not st.session_state.get(UNDO, {}).get(loaded.key),
                  on_click=_undo, args=(loaded.key,))
    with mid:
        st.download_button("Download the labels (CSV)", _table_csv(table, field_name(loaded)),
                           file_name=f"{loaded.stem or 'field'}_labels.csv", mime="text/csv",
                           key="labels_download", on_click="ignore", disabled=table.empty,
                           icon=":material/download:")
    with right:
        import_labels(loaded, stored)
    return label_table(loaded)


def import_labels(loaded: LoadedField, stored: StoredRun) -> None:
    """An uploader of a label table (CSV or ECSV) that replaces this field's labels once checked
    against this run's detections; a bad table leaves them as they are."""
    up = st.file_uploader("Import labels (CSV, ECSV)", type=["csv", "ecsv"], key="labels_upload")
    if up is None or st.session_state.get(IMPORTED) == (loaded.key, up.file_id):
        return
    with guarded("importing the labels"):
        read = labels_from_bytes(up.getvalue(), format_of(up.name), name=up.name)
        table = for_run(read, stored.result.detections, field=field_name(loaded),
                        source=f"'{up.name}'")
        _change(loaded.key, table)
        st.session_state[IMPORTED] = (loaded.key, up.file_id)
        st.rerun()
