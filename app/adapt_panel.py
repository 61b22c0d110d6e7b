"""Adapt the classifier to the user's labels, show the gain honestly, keep or discard it;
and the sidebar's choice of classifier weights.

The adaptation (:func:`galaxy_core.morphology.adapt.adapt`, always from the
shipped weights, which are never written) runs in the app's queue
(:mod:`app.jobs`) on crops framed from the run on screen; the page polls it.
Its figures are cross-validated on the user's labels (each object scored by a
head that never saw it) and measured on the original validation split.  The
adapted model lives in the session until discarded: it can re-classify the
field, be downloaded, and be picked for later runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app import caching
from app.caching import LoadedField, StoredRun, Weights
from app.guard import guarded
from app.run_panel import job_progress, request_run, session_id
from galaxy_core.catalog.labels import labels_bytes
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology.labelled import crops_from_run, for_run, not_ready
from galaxy_core.types import CLASS_NAMES

#: Session keys: the adapted model, the adaptation job's key, its failure.
ADAPTED, PENDING, FAILED = "adapted_model", "adapt_pending", "adapt_failed"
#: The weights picker's key and options.
CHOICE = "weights_choice"
SHIPPED, SESSION, UPLOAD = "shipped", "adapted", "upload"
CHOICE_NAMES = {SHIPPED: "Shipped", SESSION: "Adapted in this session", UPLOAD: "Upload a .pt file"}
#: Rough seconds of an adaptation: fixed cost, and per labelled object (features of 12 views).
ADAPT_S = (15.0, 0.5)


@dataclass(frozen=True, eq=False)
class AdaptedModel:
    """An adaptation of this session: its result, the key runs know it by, and its field."""

    key: str
    result: object
    field: str
    stem: str

    def weights(self) -> Weights:
        from galaxy_core.morphology.classifier import Classifier

        ckpt = self.result.checkpoint
        return Weights(self.key, f"adapted on {self.field}", lambda: Classifier.from_checkpoint(ckpt))


def adapt_settings():
    """The adaptation's settings in the app (the core's defaults)."""
    from galaxy_core.morphology.adapt import AdaptSettings

    return AdaptSettings()


def weights_picker() -> Weights:
    """Sidebar: which classifier weights runs use; an uploaded file is checked at once
    (GalaxyCoreError for one that is not a classifier checkpoint)."""
    _collect()  # an adaptation that just ended is offered at once
    adapted = st.session_state.get(ADAPTED)
    options = [SHIPPED, *([SESSION] if adapted is not None else []), UPLOAD]
    if st.session_state.get(CHOICE) not in options:
        st.session_state[CHOICE] = SHIPPED
    choice = st.radio("Classifier weights", options, format_func=CHOICE_NAMES.get, key=CHOICE,
                      help="Used by the next runs that classify. The shipped file is never changed.")
    if choice == SESSION:
        return adapted.weights()
    if choice == UPLOAD:
        up = st.file_uploader("Weights file (.pt)", type=["pt"], key="weights_upload")
        if up is None:
            st.caption("Until a file is given, runs use the shipped weights.")
            return Weights()
        data = up.getvalue()
        key = caching.digest(data)
        ckpt = caching.uploaded_checkpoint(key, data, up.name)
        from galaxy_core.morphology.classifier import Classifier

        return Weights(f"upload:{key}", up.name, lambda: Classifier.from_checkpoint(ckpt))
    return Weights()


def adapt_section(loaded: LoadedField, stored: StoredRun, table: pd.DataFrame, name: str) -> None:
    """The adapt button (disabled with the reason until the labels can teach), its progress,
    and the adapted model's figures and choices."""
    st.subheader("Adapt the classifier to your labels")
    if _collect():
        st.rerun()  # it ended after the sidebar was drawn: draw it again with the new model
    job_key = st.session_state.get(PENDING)
    reason = not_ready(table) if stored.complete else "Wait for the run to finish."
    if reason is not None:
        st.info(reason, icon=":material/info:")
    clicked = st.button("Adapt the classifier", key="adapt_button", type="primary",
                        icon=":material/model_training:", disabled=reason is not None or job_key is not None,
                        help=reason or "Fits the classifier's last layer to your labels on the CPU "
                                       "(from the shipped weights, which stay as they are).")
    if clicked:
        with guarded("starting the adaptation"):
            _submit(loaded, stored, table, name)
            job_key = st.session_state.get(PENDING)
    if job_key is not None:
        job_progress(job_key)
    failed = st.session_state.get(FAILED)
    if failed is not None:
        with guarded("adapting the classifier"):
            raise failed
    adapted = st.session_state.get(ADAPTED)
    if adapted is not None:
        adapted_view(adapted)


def _submit(loaded: LoadedField, stored: StoredRun, table: pd.DataFrame, name: str) -> None:
    """Queue the adaptation on this run's crops (checked first: every label's detection exists)."""
    for_run(table, stored.result.detections, field=name, source="Your labels")
    st.session_state.pop(FAILED, None)
    key = ("adapt", loaded.key, caching.digest(labels_bytes(table)), stored.key)
    estimate = ADAPT_S[0] + ADAPT_S[1] * len(table)
    caching.run_queue().submit(key, _work(stored, table, name, loaded.stem or name),
                               watcher=session_id(), estimate_s=estimate)
    st.session_state[PENDING] = key


def _work(stored: StoredRun, table: pd.DataFrame, name: str, stem: str):
    """The job: frame the labelled detections as the run did, then adapt."""
    def work(job) -> AdaptedModel:
        from galaxy_core.morphology.adapt import adapt

        job.report(0.0, "Framing your labelled objects")
        clf = caching.classifier()
        if clf is None:
            raise GalaxyCoreError("The classifier's weights are not installed: nothing to adapt.")
        crops = crops_from_run(table, stored.result.rgb, stored.result.detections, clf, field=name)
        result = adapt(crops, settings=adapt_settings(), progress=job.report)
        return AdaptedModel(f"adapted:{uuid.uuid4().hex[:12]}", result, name, stem)
    return work


def _collect() -> bool:
    """Take a finished adaptation job into the session (its model, or its failure); whether
    one ended."""
    key = st.session_state.get(PENDING)
    if key is None:
        return False
    job = caching.run_queue().job(key)
    if job is not None and job.active:
        return False
    del st.session_state[PENDING]
    if job is not None and job.state == "done":
        st.session_state[ADAPTED] = job.result
    elif job is not None and job.state == "failed":
        st.session_state[FAILED] = job.error
    return True


def gain_table(result) -> pd.DataFrame:
    """The adaptation's figures as rows: each class of the labels (recall), all labels, with
    TTA, and the original validation split (accuracy), before and after, with counts."""
    rows = []
    for name in CLASS_NAMES:
        n = result.cv_before.counts[CLASS_NAMES.index(name)]
        if n:
            rows.append((name, n, result.cv_before.recall(name), result.cv_after.recall(name), ""))
    ci = result.cv_gain_ci
    rows.append(("all your labels", result.cv_before.n, result.cv_before.accuracy,
                 result.cv_after.accuracy, f"± {ci:.3f}" if ci == ci else ""))
    rows.append(("all, with TTA", result.cv_before_tta.n, result.cv_before_tta.accuracy,
                 result.cv_after_tta.accuracy, ""))
    rows.append(("original validation split", result.val_before.n, result.val_before.accuracy,
                 result.val_after.accuracy, ""))
    return pd.DataFrame([{"": r[0], "objects": f"{r[1]:,}", "before": f"{r[2]:.3f}",
                          "after": f"{r[3]:.3f}", "change": f"{r[3] - r[2]:+.3f} {r[4]}".strip()}
                         for r in rows]).set_index("")


def adapted_view(adapted: AdaptedModel) -> None:
    """The adapted model's figures, and what to do with it: re-classify, download, discard."""
    result = adapted.result
    st.markdown(f"**Adapted on {sum(result.labels)} of your labels in {result.seconds:.0f} s.** "
                "Each labelled object is scored by a model fitted without it "
                f"({result.card['settings']['folds']}-fold cross-validation; per class: the share "
                "right); the validation split says what the model forgot of the original data.")
    st.table(gain_table(result))
    st.caption("± is the 95 % interval of the gain on your labels: with few labels it is wide. "
               "The size and S/N rule stays the shipped model's (not re-measured).")
    left, mid, right = st.columns(3)
    with left:
        st.button("Re-classify this field with the adapted model", key="adapt_use", type="primary",
                  on_click=_use_adapted)
    with mid:
        st.download_button("Download the adapted weights", result.to_bytes,
                           file_name=f"{adapted.stem}_adapted.pt",
                           mime="application/octet-stream", key="adapt_download", on_click="ignore",
                           icon=":material/download:")
    with right:
        st.button("Discard", key="adapt_discard", on_click=_discard)


def _use_adapted() -> None:
    """Button callback: pick the adapted weights and re-run the field with classification."""
    st.session_state[CHOICE] = SESSION
    st.session_state["classify"] = True
    request_run()


def _discard() -> None:
    """Button callback: forget the adapted model (the shipped weights again if it was picked)."""
    st.session_state.pop(ADAPTED, None)
    if st.session_state.get(CHOICE) == SESSION:
        st.session_state[CHOICE] = SHIPPED
