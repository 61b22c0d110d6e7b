"""atomic_write: the target holds either its old content or the whole new one."""

import pytest

from galaxy_core.io.atomic import atomic_write


def test_writes_and_creates_the_folder(tmp_path):
    target = tmp_path / "sub" / "ckpt.pt"
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"
    assert list(target.parent.iterdir()) == [target]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "pack.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_write(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]
