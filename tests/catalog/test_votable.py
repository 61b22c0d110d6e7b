"""The VOTable export (units, UCDs, provenance) and the CSV units note."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io.votable import parse_single_table
from astropy.io.votable.ucd import check_ucd
from astropy.table import Table

from galaxy_core.catalog.export import COLUMN_META, catalog_bytes, format_of, units_note
from galaxy_core.catalog.table import COLUMNS, UNITS, to_frame
from galaxy_core.io.synthetic import make_wcs
from galaxy_core.sky import with_sky
from galaxy_core.types import CLASS_NAMES, Detection

PROBS = (0.1, 0.05, 0.6, 0.1, 0.1, 0.05)


@pytest.fixture
def frame():
    dets = [Detection(1, 10.0, 20.0, 30.0, 44.0, 20.0, 32.0, 0.9, "Elliptical", PROBS, extent_px=40.0,
                      peak_snr=90.0, morph_accuracy=0.8, morph_reliable=True, detector_label="galaxy"),
            Detection(2, 100.0, 5.0, 110.0, 15.0, 105.0, 10.0, 0.4, "object")]
    return to_frame(with_sky(dets, make_wcs(256)))


def test_votable_has_every_column_with_units_ucds_and_provenance(frame):
    data = catalog_bytes(frame, "votable", meta={"SOFTWARE": "galaxy_core", "THRESH": 0.25})
    table = parse_single_table(io.BytesIO(data))
    fields = {f.name: f for f in table.fields}
    assert list(fields) == list(COLUMNS)
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["dec"].ucd == "pos.eq.dec;meta.main"
    assert str(fields["ra"].unit) == "deg" and str(fields["x"].unit) == "pix"
    assert fields["label"].ucd == "src.class"
    assert all(fields[c].ucd == "stat.probability" for c in CLASS_NAMES)
    for name, (ucd, description) in COLUMN_META.items():
        assert check_ucd(ucd, check_controlled_vocabulary=True) and description, name
    assert set(UNITS) <= {n for n, f in fields.items() if f.unit is not None}
    back = Table.read(io.BytesIO(data), format="votable")
    assert back["label"].tolist() == ["Elliptical", "object"]
    np.testing.assert_allclose(back["ra"], frame["ra"], rtol=0, atol=1e-9)
    assert bool(back["morph_reliable"][0]) and np.ma.is_masked(back["Spiral"][1])
    text = data.decode()
    assert 'name="THRESH" value="0.25"' in text and 'name="SOFTWARE" value="galaxy_core"' in text
    assert format_of("cat.vot") == "votable" and format_of("cat.xml") == "votable"


def test_units_note_names_every_column_with_a_unit():
    note = units_note()
    for name in UNITS:
        assert name in note
    assert "degrees" in note and "pixels" in note
