"""The command line: catalogues on stdout or in files, one-line errors."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_core import shipped
from galaxy_core.catalog.table import COLUMNS
from galaxy_core.cli import main
from galaxy_core.io.synthetic import synthetic_field


@pytest.fixture(scope="module")
def fits_bands(tmp_path_factory):
    """A small synthetic field written as three single-band FITS files with WCS."""
    field, truth = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    folder = tmp_path_factory.mktemp("bands")
    paths = []
    for k, band in enumerate("rgb"):
        header = field.wcs.to_header()
        header["OBJECT"] = "<script>alert(1)</script>"
        path = folder / f"{band}.fits"
        fits.PrimaryHDU(field.data[k], header=header).writeto(path)
        paths.append(path)
    return paths, truth


def test_cli_detect_three_bands_csv_on_stdout(fits_bands, capsys):
    paths, truth = fits_bands
    status = main(["detect", *map(str, paths), "--method", "sep", "--no-classify"])
    out = capsys.readouterr().out
    assert status == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == list(COLUMNS)
    assert len(df) >= (truth.snr > 30).sum()
    assert df["ra"].notna().all()


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".ecsv", ".reg"])
def test_cli_detect_writes_each_format(fits_bands, tmp_path, suffix):
    paths, _ = fits_bands
    out = tmp_path / f"catalog{suffix}"
    assert main(["detect", str(paths[0]), "--method", "sep", "--no-classify", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data
    if suffix == ".reg":
        assert b"icrs" in data and b"box(" in data


def test_cli_render_png_with_options(fits_bands, tmp_path):
    paths, _ = fits_bands
    out = tmp_path / "field.png"
    status = main(["render", *map(str, paths), "--interval", "zscale", "--stretch", "sqrt", "-o", str(out)])
    assert status == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (256, 256, 3) and img.std() > 5


def test_cli_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "bad.fits"
    bad.write_text("this is not a FITS file")
    assert main(["detect", str(bad), "--method", "sep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["detect", str(tmp_path / "missing.fits")]) == 2
    assert "No such file" in capsys.readouterr().err
    assert main(["detect", "demo:nothing"]) == 2
    assert main(["render", str(bad), str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "three FITS" in capsys.readouterr().err


def test_cli_detect_demo_field_to_stdout(capsys):
    assert main(["detect", "demo:xdf", "--method", "sep", "--threshold", "5", "--no-classify"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(df) > 50 and df["ra"].isna().all()  # a picture has no WCS


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_cli_small_object_pass(tmp_path, capsys):
    field, _ = synthetic_field(seed=3, size=256, n_galaxies=6, n_stars=2)
    path = tmp_path / "f.fits"
    fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
    counts = []
    for factor in ("1", "1.5", "2"):
        assert main(["detect", str(path), "--method", "yolo", "--no-classify", "--upsample", factor]) == 0
        df = pd.read_csv(io.StringIO(capsys.readouterr().out))
        assert ((df["x"] >= -0.5) & (df["x"] <= 255.5)).all()
        counts.append(len(df))
    assert min(counts) > 0
    for bad in ("5", "1.25", "two"):
        with pytest.raises(SystemExit) as refused:  # argparse's usage error
            main(["detect", str(path), "--upsample", bad])
        assert refused.value.code == 2 and "invalid" in capsys.readouterr().err


needs_detector = pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(),
                                    reason="weights/detector.pt is not trained yet")


@pytest.mark.slow
@needs_detector
def test_cli_detect_tta_and_floor(tmp_path, capsys):
    field, _ = synthetic_field(seed=3, size=256, n_galaxies=6, n_stars=2)
    path = tmp_path / "f.fits"
    fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
    frames = {}
    for name, extra in {"plain": [], "tta": ["--detect-tta"],
                        "tta_floor": ["--detect-tta", "--min-score", "0.5"]}.items():
        assert main(["detect", str(path), "--method", "yolo", "--no-classify", *extra]) == 0
        frames[name] = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frames["plain"]) > 0 and len(frames["tta"]) > 0
    assert frames["plain"]["score"].min() >= 0.25 and frames["tta"]["score"].min() >= 0.25
    strict = frames["tta"][frames["tta"]["score"] >= 0.5]
    np.testing.assert_allclose(frames["tta_floor"][["x", "y", "score"]].to_numpy(),
                               strict[["x", "y", "score"]].to_numpy())


# --- the CLI contract: stdout holds only the result, checks before work, one-line errors ---


@pytest.mark.parametrize("engine", ["onnx", "torch"])
def test_first_run_stdout_is_only_the_catalogue(tmp_path, engine):
    """A fresh clone: ultralytics (the detector's torch engine, used when no up-to-date ONNX
    export ships) has no settings yet and announces creating them; none of that may reach
    stdout, which must parse as the catalogue."""
    import os
    import subprocess
    import sys

    field, _ = synthetic_field(seed=4, size=256, n_galaxies=5, n_stars=1)
    path = tmp_path / "field.fits"
    fits.PrimaryHDU(field.data[0], header=field.wcs.to_header()).writeto(path)
    config = tmp_path / "yolo_config"
    config.mkdir()
    method = "auto" if shipped.DETECTOR_WEIGHTS.exists() else "sep"
    env = os.environ | {"YOLO_CONFIG_DIR": str(config), "PYTHONWARNINGS": "default"}
    patch = "import galaxy_core.detection.yolo as y; y.onnx_export_of = lambda pt: None; " * (engine == "torch")
    cli = (f"import sys; {patch}from galaxy_core.cli import main; "
           f"sys.exit(main(['detect', {str(path)!r}, '--method', {method!r}, '--no-classify']))")
    done = subprocess.run([sys.executable, "-c", cli], cwd=shipped.REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(io.StringIO(done.stdout))
    assert list(df.columns) == list(COLUMNS) and len(df) > 0
    assert done.stdout.startswith("id,") and "Traceback" not in done.stderr
    if method == "auto":  # ultralytics wrote its first-run settings only where it ran
        assert any(config.rglob("settings.json")) == (engine == "torch")


def test_chatter_during_a_run_goes_to_stderr(fits_bands, capsys, monkeypatch):
    from galaxy_core import pipeline

    real_run = pipeline.run

    def chatty_run(*args, **kwargs):
        print("Creating new Settings file")  # as a library's first run does
        return real_run(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run", chatty_run)
    paths, _ = fits_bands
    assert main(["detect", str(paths[0]), "--method", "sep", "--no-classify"]) == 0
    captured = capsys.readouterr()
    assert list(pd.read_csv(io.StringIO(captured.out)).columns) == list(COLUMNS)
    assert "Creating new Settings file" in captured.err


def test_unexpected_failure_is_one_line_with_nothing_on_stdout(fits_bands, capsys, monkeypatch):
    from galaxy_core import pipeline

    def broken_run(*args, **kwargs):
        print("half a catalogue")
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "run", broken_run)
    assert main(["detect", str(fits_bands[0][0]), "--method", "sep"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1] == "error: unexpected failure (RuntimeError: boom)"


@pytest.fixture
def no_work(monkeypatch):
    """Reading a field fails the test: what is checked must be checked before any work."""
    from galaxy_core.cli import detect, render

    def refuse(*args, **kwargs):
        raise AssertionError("the field was read before the options were checked")

    for module in (detect, render):
        monkeypatch.setattr(module, "load_cli_field", refuse)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("extra", "words"), [
    (["--out", "{tmp}/catalog.txt"], ["catalogue format", "catalog.txt", ".csv"]),
    (["--out", "{tmp}/missing/catalog.csv"], ["folder", "missing", "does not exist"]),
    (["--out", "{tmp}/folder.csv"], ["folder.csv", "is a directory"]),
    (["--min-score", "1.5"], ["min_score", "[0, 1)"]),
    (["--threshold", "0"], ["sep threshold"]),
    (["--lower", "90", "--upper", "50"], ["lower < upper"]),
    (["--upper", "120"], ["upper <= 100"]),
    (["--colormap", "rainbowz"], ["colormap", "rainbowz"]),
    (["--interval", "manual", "--vmin", "5", "--vmax", "1"], ["vmin < vmax"]),
])
def test_detect_options_and_output_are_checked_before_any_work(tmp_path, capsys, no_work, extra,
                                                                words):
    (tmp_path / "folder.csv").mkdir()
    field = tmp_path / "field.fits"
    field.write_bytes(b"never read")
    args = ["detect", str(field), "--method", "sep", *(a.format(tmp=tmp_path) for a in extra)]
    assert main(args) == 2
    line = _one_error_line(capsys)
    for word in words:
        assert word in line


def test_render_output_suffix_and_band_files_are_checked_before_any_work(tmp_path, capsys, no_work):
    field = tmp_path / "r.fits"
    field.write_bytes(b"never read")
    assert main(["render", str(field), "-o", str(tmp_path / "field.jpg")]) == 2
    assert ".png" in _one_error_line(capsys)
    assert main(["render", str(field), str(field), str(tmp_path / "b.fits"),
                 "-o", str(tmp_path / "field.png")]) == 2
    assert f"No such file: {tmp_path / 'b.fits'}" in _one_error_line(capsys)


def test_directory_and_fifo_are_named_for_what_they_are(tmp_path, capsys):
    import os

    assert main(["detect", str(tmp_path), "--method", "sep"]) == 2
    assert "is a directory" in _one_error_line(capsys)
    os.mkfifo(tmp_path / "pipe.fits")
    assert main(["detect", str(tmp_path / "pipe.fits"), "--method", "sep"]) == 2
    assert "is not a regular file" in _one_error_line(capsys)


@pytest.mark.parametrize("argv", [
    ["detect"],
    ["detect", "x.fits", "--method", "magic"],
    ["detect", "x.fits", "--max-pixels", "lots"],
    ["render", "x.fits"],
    [],
])
def test_usage_errors_are_one_line_with_status_2(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    line = _one_error_line(capsys)
    assert line.endswith("--help)")


@pytest.mark.parametrize(("text", "pixels"), [
    ("400M", 400_000_000), ("4e8", 400_000_000), ("400000000", 400_000_000), ("0.5k", 500),
    ("2G", 2_000_000_000), (" 64m ", 64_000_000),
])
def test_pixel_counts_are_read_with_units(text, pixels):
    from galaxy_core.cli.options import pixel_count

    assert pixel_count(text) == pixels


@pytest.mark.parametrize("text", ["0", "-5", "lots", "1e400", "", "4 GB", "0.4"])
def test_bad_pixel_counts_are_refused(text):
    import argparse

    from galaxy_core.cli.options import pixel_count

    with pytest.raises(argparse.ArgumentTypeError, match="not a pixel count"):
        pixel_count(text)


def test_max_pixels_is_applied_and_explained(fits_bands, tmp_path, capsys):
    paths, _ = fits_bands
    assert main(["detect", str(paths[0]), "--method", "sep", "--max-pixels", "60k"]) == 2
    line = _one_error_line(capsys)
    assert "256 x 256" in line and "limit of 60,000 pixels" in line
    out = tmp_path / "field.png"
    assert main(["render", str(paths[0]), "--max-pixels", "65536", "-q", "-o", str(out)]) == 0
    assert out.stat().st_size > 0 and capsys.readouterr().err == ""  # exactly at the limit; quiet
    with pytest.raises(SystemExit) as exited:
        main(["detect", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--max-pixels N" in text and "default 400M" in text
    assert "1.6 GB per band, 4.8 GB for three" in text and "uploads is 67.1M" in text


def test_notes_about_odd_headers_go_to_stderr(tmp_path, capsys):
    raw = io.BytesIO()
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32),
                    header=fits.Header([("OBJECT", "M31")])).writeto(raw)
    data = raw.getvalue()
    at = data.index(b"OBJECT  =")
    path = tmp_path / "odd.fits"
    path.write_bytes(data[:at] + b"OBJECT  = 'caf\xe9'".ljust(80) + data[at + 80:])
    assert main(["detect", str(path), "--method", "sep", "--no-classify", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert list(pd.read_csv(io.StringIO(captured.out)).columns) == list(COLUMNS)
    assert captured.err.startswith("note: 'odd.fits': the header of HDU 0 holds bytes")


# --- the progress line ---


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_silent_off_a_terminal_or_when_quiet():
    from galaxy_core.cli.progress import ProgressLine

    for line in (ProgressLine(io.StringIO()), ProgressLine(FakeTerminal(), enabled=False)):
        line(0.5, "YOLO: 3 of 6 tiles")
        line.close()
        assert line.stream.getvalue() == ""


def test_progress_rewrites_one_line_with_elapsed_and_time_left():
    from galaxy_core.cli.progress import ProgressLine

    clock = FakeClock()
    line = ProgressLine(FakeTerminal(), clock=clock, min_interval=0.5)
    line(0.0, "Reading field.fits")
    clock.now += 0.1
    line(0.1, "YOLO: 1 of 10 tiles")  # within min_interval: not drawn yet
    clock.now += 3.9
    line(0.4, "YOLO: 4 of 10 tiles")
    line.write("note: something odd")
    clock.now += 6.0
    line(1.0, "Done: 12 detections")
    line.close()
    out = line.stream.getvalue()
    frames = [f.rstrip() for f in out.split("\r") if f.strip()]
    assert frames[0] == "  0% Reading field.fits [0:00 elapsed]"
    assert "1 of 10" not in out
    assert frames[1] == " 40% YOLO: 4 of 10 tiles [0:04 elapsed, ~0:06 left]"
    assert "note: something odd\n" in out
    assert frames[-1] == "100% Done: 12 detections [0:10 elapsed]"
    assert out.endswith("\n") and out.count("\n") == 2


def test_progress_span_maps_a_step_onto_part_of_the_whole():
    from galaxy_core.cli.progress import ProgressLine, clock_text, time_left

    line = ProgressLine(FakeTerminal(), clock=FakeClock(), min_interval=0)
    line.span(0.5, 1.0, "file 2 of 2: ")(0.5, "YOLO: 1 of 2 tiles")
    assert line.stream.getvalue().startswith("\r 75% file 2 of 2: YOLO: 1 of 2 tiles")
    assert time_left(0.01, 50.0) is None and time_left(0.5, 0.5) is None
    assert time_left(0.25, 30.0) == pytest.approx(90.0)
    assert clock_text(3725) == "1:02:05" and clock_text(59.6) == "1:00"


def test_an_all_zero_field_gives_an_empty_catalogue_and_a_note(tmp_path, capsys):
    path = tmp_path / "zero.fits"
    fits.PrimaryHDU(np.zeros((200, 200), np.float32)).writeto(path)
    assert main(["detect", str(path)]) == 0
    captured = capsys.readouterr()
    df = pd.read_csv(io.StringIO(captured.out))
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)
    assert "note: 'zero' is constant (every pixel 0)" in captured.err
