"""Survey mode on Dask: many fields, one catalogue, nothing lost, nothing repeated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galaxy_core import pipeline
from galaxy_core.catalog.table import COLUMNS
from galaxy_core.cli import main
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.survey import parts, work
from galaxy_core.survey.runner import run_batch
from galaxy_core.survey.specs import FieldSpec, expand_fields
from galaxy_core.survey.work import BatchSettings

SEP = BatchSettings(pipeline.RunSettings(method="sep", classify=False))


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on 127.0.0.1 for the whole module (stopped at its end)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fields")
    paths = []
    for seed in range(3):
        field, _ = synthetic_field(seed=seed, size=192, n_galaxies=6, n_stars=2)
        path = folder / f"f{seed}.fits"
        fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
        paths.append(path)
    return paths


def specs_of(paths):
    return [FieldSpec((str(p),)) for p in paths]


def test_a_batch_equals_the_single_field_catalogues_concatenated(cluster, fields, tmp_path):
    out = tmp_path / "cat.parquet"
    report = run_batch(specs_of(fields), SEP, out, scheduler=cluster, log=lambda _: None)
    got = pd.read_parquet(out)
    singles = [work.catalogue_rows(pipeline.run(f, settings=SEP.run).detections, spec)
               for f, spec in zip(map(_load, fields), specs_of(fields), strict=True)]
    expected = pd.concat(singles, ignore_index=True)
    assert list(got.columns) == [*COLUMNS, *work.BATCH_COLUMNS] and len(got) > 10
    pd.testing.assert_frame_equal(got, expected)
    assert report.resumed == 0 and not report.failed
    assert not (tmp_path / "cat.parquet.parts").exists() and not (tmp_path / "cat.parquet.lock").exists()
    summary = pd.read_csv(report.summary)
    assert summary["status"].tolist() == ["ok"] * 3 and summary["detections"].sum() == len(got)


def _load(path):
    from galaxy_core.io.load import load_field

    return load_field(path)


def test_a_killed_run_resumes_without_repeating_a_field(cluster, fields, tmp_path, monkeypatch):
    out = tmp_path / "cat.ecsv"
    real_save, saved = parts.PartStore.save, []

    def save_twice_then_die(self, spec, result):
        if len(saved) == 2:
            raise KeyboardInterrupt  # the run is killed after two fields
        saved.append(spec)
        real_save(self, spec, result)

    monkeypatch.setattr(parts.PartStore, "save", save_twice_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_batch(specs_of(fields), SEP, out, scheduler=cluster, log=lambda _: None)
    assert not out.exists() and len(list((tmp_path / "cat.ecsv.parts").glob("*.parquet"))) == 2
    monkeypatch.setattr(parts.PartStore, "save", real_save)
    report = run_batch(specs_of(fields), SEP, out, scheduler=cluster, log=lambda _: None)
    assert report.resumed == 2
    whole = run_batch(specs_of(fields), SEP, tmp_path / "again.ecsv", scheduler=cluster,
                      log=lambda _: None)
    from astropy.table import Table

    resumed, uninterrupted = Table.read(out).to_pandas(), Table.read(whole.out).to_pandas()
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    assert not resumed.duplicated(["field", "id"]).any()


def test_a_failing_field_is_recorded_and_the_others_finish(cluster, fields, tmp_path):
    broken = tmp_path / "broken.fits"
    broken.write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"not a header")
    report = run_batch(specs_of([fields[0], broken, fields[1]]), SEP, tmp_path / "cat.csv",
                       scheduler=cluster, log=lambda _: None)
    assert [r.status for r in report.results] == ["ok", "failed", "ok"]
    assert "broken.fits" in report.results[1].message or "FITS" in report.results[1].message
    assert (tmp_path / "cat.csv.parts").exists()  # the failed field is tried again next time
    assert set(pd.read_csv(tmp_path / "cat.csv")["field"]) == {str(fields[0]), str(fields[1])}


def test_mosaic_windows_merge_across_seams_as_one_field(cluster, tmp_path, monkeypatch):
    field, truth = synthetic_field(seed=8, size=900, n_galaxies=60, n_stars=8)
    path = tmp_path / "mosaic.fits"
    fits.PrimaryHDU(field.data[0].astype(">f4"), header=field.wcs.to_header()).writeto(path)
    from galaxy_core.detection import sep as sep_module

    monkeypatch.setattr(sep_module, "STRIP_PIXELS", 900 * 150)  # many strips, many seams
    monkeypatch.setattr(sep_module, "STRIP_OVERLAP", 64)
    mosaic = BatchSettings(SEP.run, hold_bytes=1000)
    lazy = work.mosaic_of(FieldSpec((str(path),)), mosaic)
    plan = work.plan_mosaic(FieldSpec((str(path),)), lazy, mosaic)
    assert len(plan.bands) > 3
    windows = [work.detect_window(plan, mosaic, k) for k in range(len(plan.bands))]
    joined = work.finish_mosaic(plan, mosaic, windows, None)
    whole = pipeline.run(lazy, settings=SEP.run).detections  # one process, strip by strip
    assert [(d.x, d.y, d.score) for d in joined] == [(d.x, d.y, d.score) for d in whole]
    seams = [lo for lo, _ in plan.bands[1:]]
    on_seams = [d for d in joined if min(abs(d.y - s) for s in seams) < 10 and d.snr > 20]
    assert on_seams, "the field has objects on the seams"
    for d in on_seams:
        assert sum(abs(e.x - d.x) < 2 and abs(e.y - d.y) < 2 for e in joined) == 1


def test_field_lists_globs_and_bands(tmp_path, fields):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two fields\n{fields[0]}\n\n{fields[1]}  # the second\n")
    specs = expand_fields([f"@{listing}", str(fields[0].parent / "f*.fits"),
                           ",".join(map(str, fields))])
    assert [s.label for s in specs] == [str(fields[0]), str(fields[1]), str(fields[2]),
                                        ",".join(map(str, fields))]
    for bad, words in (([str(tmp_path / "nothing*.fits")], "No file matches"),
                       (["@" + str(tmp_path / "missing.txt")], "No such list"),
                       ([f"{fields[0]},{fields[1]}"], "three as R,G,B"),
                       ([str(tmp_path)], "is a directory")):
        with pytest.raises(GalaxyCoreError, match=words):
            expand_fields(bad)


def test_the_cli_refuses_a_bad_output_folder_and_a_silent_scheduler(fields, tmp_path, capsys):
    assert main(["batch", str(fields[0]), "--out", str(tmp_path / "missing" / "cat.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and len(err.strip().splitlines()) == 1
    assert main(["batch", str(fields[0]), "--out", str(tmp_path / "cat.txt")]) == 2
    assert ".parquet" in capsys.readouterr().err
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = main(["batch", str(fields[0]), "--out", str(tmp_path / "cat.parquet"), "--method", "sep",
                   "--scheduler", f"tcp://127.0.0.1:{port}", "-q"])
    err = capsys.readouterr().err
    assert status == 2 and "No Dask scheduler answered" in err and len(err.strip().splitlines()) == 1


def test_two_runs_on_one_output_are_refused(tmp_path):
    first = parts.PartStore(tmp_path / "cat.parquet", "abc")
    first.acquire()
    with pytest.raises(GalaxyCoreError, match="Another run is writing"):
        parts.PartStore(tmp_path / "cat.parquet", "abc").acquire()
    first.release()
    (tmp_path / "cat.parquet.lock").write_text("999999999 " + __import__("socket").gethostname())
    parts.PartStore(tmp_path / "cat.parquet", "abc").acquire()  # a dead run's lock is taken over
    store = parts.PartStore(tmp_path / "cat.parquet", "other")
    store.dir.mkdir(exist_ok=True)
    (store.dir / "run.json").write_text('{"digest": "abc"}')
    with pytest.raises(GalaxyCoreError, match="other settings"):
        store.prepare(resume=True)
    store.prepare(resume=False)  # --no-resume starts over
    assert np.array_equal(sorted(p.name for p in store.dir.iterdir()), ["run.json"])


@pytest.mark.slow
@pytest.mark.skipif("yolo" not in __import__("galaxy_core.shipped").shipped.available_methods(),
                    reason="weights/detector.pt is not trained yet")
def test_yolo_mosaic_windows_give_the_whole_fields_catalogue(tmp_path, monkeypatch):
    from galaxy_core.catalog.matching import match_boxes
    from galaxy_core.morphology.framing import detection_boxes

    field, _ = synthetic_field(seed=9, size=1400, n_galaxies=120, n_stars=10)
    path = tmp_path / "mosaic.fits"
    fits.PrimaryHDU(field.data[0].astype(">f4"), header=field.wcs.to_header()).writeto(path)
    monkeypatch.setattr(work, "WINDOW_ROWS", 600)  # one row of tiles a window
    settings = BatchSettings(pipeline.RunSettings(method="yolo", classify=False), hold_bytes=1000)
    spec = FieldSpec((str(path),))
    plan = work.plan_mosaic(spec, work.mosaic_of(spec, settings), settings)
    assert len(plan.bands) == 3
    windows = [work.detect_window(plan, settings, k) for k in range(3)]
    coarse, _ = work.detect_coarse(plan, settings)
    joined = work.finish_mosaic(plan, settings, windows, coarse)
    whole = pipeline.run(work.mosaic_of(spec, settings), settings=settings.run).detections
    found = match_boxes(detection_boxes(joined), np.array([d.score for d in joined]),
                        detection_boxes(whole), min_iou=0.9)
    assert len(whole) > 50 and abs(len(joined) - len(whole)) <= 0.01 * len(whole)
    assert (found >= 0).mean() >= 0.995
