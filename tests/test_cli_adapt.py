"""``python -m galaxy_core adapt``: figures on stdout, weights to --out, one clear line for bad input."""

from __future__ import annotations

import contextlib
import hashlib
import io

import pytest
import torch
from astropy.io import fits
from PIL import Image

from galaxy_core import pipeline, shipped
from galaxy_core.cli import main
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.morphology.classifier import Classifier
from tests.support import galaxy_image

pytestmark = pytest.mark.skipif(not shipped.classifier_available(), reason="classifier weights absent")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cutouts(folder, n: int, labels=("Elliptical", "On_Edge")) -> list[str]:
    """``n`` galaxy pictures (round, thin, ...) in ``folder``; the label table's CSV rows."""
    rows = []
    for i in range(n):
        thin = i % len(labels) == 1
        img = galaxy_image(72, scale_px=5.0, axis_ratio=0.2 if thin else 0.95, angle_deg=29.0 * i, seed=i)
        Image.fromarray(img).save(folder / f"g{i}.png")
        rows.append(f"g{i}.png,{labels[i % len(labels)]}")
    return rows


def _table(folder, rows: list[str], header: str = "path,label"):
    path = folder / "labels.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """The CLI run once on 24 labelled cutouts: (status, stdout, out file, shipped sha before)."""
    folder = tmp_path_factory.mktemp("adapt")
    table = _table(folder, _cutouts(folder, 24))
    before = _sha(shipped.CLASSIFIER_WEIGHTS)
    out = folder / "mine.pt"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["adapt", str(table), "--out", str(out), "--threads", "1"])
    return status, buf.getvalue(), out, before


@pytest.mark.slow
def test_adapt_prints_cross_validated_figures_and_writes_only_its_file(adapted):
    status, stdout, out, before = adapted
    assert status == 0
    assert "cross-validated" in stdout and "Elliptical" in stdout and "On_Edge" in stdout
    assert "validation split (1722 objects" in stdout
    assert out.is_file() and _sha(shipped.CLASSIFIER_WEIGHTS) == before
    clf = Classifier.load(out, backend="torch")
    assert clf.adaptation["counts"]["Elliptical"] == 12
    assert clf.adaptation["base"]["sha256"] == before
    shipped_state = torch.load(shipped.CLASSIFIER_WEIGHTS, weights_only=True)["state_dict"]
    mine = torch.load(out, weights_only=True)["state_dict"]
    assert torch.equal(mine["layer4.1.conv2.weight"], shipped_state["layer4.1.conv2.weight"])
    assert not torch.equal(mine["fc.weight"], shipped_state["fc.weight"])


@pytest.mark.slow
def test_adapted_weights_load_in_classify_and_in_a_run(adapted, tmp_path, capsys):
    out = adapted[2]
    img = tmp_path / "one.png"
    Image.fromarray(galaxy_image(72, scale_px=5.0, axis_ratio=0.2, seed=99)).save(img)
    assert main(["classify", str(img), "--weights", str(out), "--no-tta"]) == 0
    mine = capsys.readouterr().out
    assert main(["classify", str(img), "--no-tta"]) == 0
    assert capsys.readouterr().out != mine  # another head, other probabilities
    field, _ = synthetic_field(seed=3, size=256, n_galaxies=4, n_stars=1)
    result = pipeline.run(field, settings=pipeline.RunSettings(method="sep"),
                          classifier=Classifier.load(out, backend="torch"))
    assert result.classified and all(d.probs is not None for d in result.detections)
    fits.PrimaryHDU(field.data[0]).writeto(tmp_path / "f.fits")
    argv = ["detect", str(tmp_path / "f.fits"), "--method", "sep", "-q"]
    assert main([*argv, "--weights-classifier", str(out)]) == 0
    adapted_csv = capsys.readouterr().out
    assert main(argv) == 0
    shipped_csv = capsys.readouterr().out
    assert adapted_csv.splitlines()[0] == shipped_csv.splitlines()[0] and adapted_csv != shipped_csv
    assert main([*argv, "--weights-classifier", str(out), "--out", str(tmp_path / "c.ecsv")]) == 0
    assert out.name in (tmp_path / "c.ecsv").read_text()  # the provenance names the weights used


def _refused(capsys, argv: list[str], match: str, out) -> None:
    before = _sha(shipped.CLASSIFIER_WEIGHTS)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and match in err[-1], err
    assert not out.exists() and _sha(shipped.CLASSIFIER_WEIGHTS) == before


def test_unknown_class_names_are_refused(tmp_path, capsys):
    table = _table(tmp_path, _cutouts(tmp_path, 22, labels=("Elliptical", "Lenticular")))
    _refused(capsys, ["adapt", str(table), "--out", str(tmp_path / "o.pt")], "not a class: 'Lenticular'",
             tmp_path / "o.pt")


def test_too_few_labels_and_a_single_class_are_refused(tmp_path, capsys):
    rows = _cutouts(tmp_path, 22, labels=("Spiral",))
    out = tmp_path / "o.pt"
    _refused(capsys, ["adapt", str(_table(tmp_path, rows[:5])), "--out", str(out)],
             "at least 20 labelled objects; got 5", out)
    _refused(capsys, ["adapt", str(_table(tmp_path, rows)), "--out", str(out)],
             "All 22 labels are Spiral", out)


def test_a_file_that_is_not_a_classifier_is_refused_as_base(tmp_path, capsys):
    table = _table(tmp_path, _cutouts(tmp_path, 22))
    torch.save({"state_dict": {}, "epoch": 3}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not weights")
    for base in ("other.pt", "text.pt"):
        _refused(capsys, ["adapt", str(table), "--out", str(tmp_path / "o.pt"), "--base",
                          str(tmp_path / base)], "classifier checkpoint", tmp_path / "o.pt")


def test_detect_refuses_weights_that_are_not_a_classifier(tmp_path, capsys):
    field, _ = synthetic_field(seed=3, size=128, n_galaxies=2, n_stars=0)
    fits.PrimaryHDU(field.data[0]).writeto(tmp_path / "f.fits")
    (tmp_path / "text.pt").write_text("not weights")
    for weights, match in (("text.pt", "classifier checkpoint"), ("none.pt", "No such file")):
        assert main(["detect", str(tmp_path / "f.fits"), "--method", "sep", "-q",
                     "--weights-classifier", str(tmp_path / weights)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and match in err[-1], err


def test_labels_of_detections_that_no_longer_exist_are_refused(tmp_path, capsys):
    field, _ = synthetic_field(seed=2, size=256, n_galaxies=6, n_stars=1)
    fits.PrimaryHDU(field.data[0]).writeto(tmp_path / "f.fits")
    rows = _cutouts(tmp_path, 22)
    rows = [f"{r},,,," for r in rows] + [",Spiral,f.fits,7,3.0,250.0"]  # a corner with nothing in it
    table = _table(tmp_path, rows, header="path,label,field,id,x,y")
    _refused(capsys, ["adapt", str(table), "--out", str(tmp_path / "o.pt"), "--method", "sep"],
             "no longer exist (ids 7)", tmp_path / "o.pt")


def test_the_shipped_weights_cannot_be_the_output(tmp_path, capsys):
    table = _table(tmp_path, _cutouts(tmp_path, 22))
    before = _sha(shipped.CLASSIFIER_WEIGHTS)
    assert main(["adapt", str(table), "--out", str(shipped.CLASSIFIER_WEIGHTS)]) == 2
    assert "would overwrite the base weights" in capsys.readouterr().err
    assert _sha(shipped.CLASSIFIER_WEIGHTS) == before


@pytest.mark.slow
def test_a_table_of_labelled_detections_as_the_app_exports_it_is_valid_input(tmp_path, capsys):
    field, _ = synthetic_field(seed=4, size=512, n_galaxies=40, n_stars=2)
    fits.PrimaryHDU(field.data[0]).writeto(tmp_path / "f.fits")
    from galaxy_core.catalog.labels import labels_frame, write_labels
    from galaxy_core.io.load import load_field

    result = pipeline.run(load_field(tmp_path / "f.fits"), settings=pipeline.RunSettings(method="sep"))
    assert len(result.detections) >= 22
    chosen = [(d, ("Elliptical", "Spiral", "skip")[i % 3]) for i, d in enumerate(result.detections[:33])]
    write_labels(labels_frame(chosen, field="f.fits"), tmp_path / "labels.ecsv")
    out = tmp_path / "o.pt"
    assert main(["adapt", str(tmp_path / "labels.ecsv"), "--out", str(out), "--method", "sep",
                 "--threads", "1"]) == 0
    stdout = capsys.readouterr().out
    n = sum(label != "skip" for _, label in chosen)
    assert f"on {n} labels" in stdout and out.is_file()
    assert Classifier.load(out, backend="torch").adaptation["labels"][0][0] == "f.fits#1"
