"""Pictures the page shows served by URL from the app server instead of inlined in its messages.

A threshold change sends the field's figure and the table again; inlined, the
field's display image (about 0.3 MB for the XDF) and the table's 200 cut-outs
(about 0.65 MB as data URIs) went with them every time, and the browser decoded
them again.  Registered with Streamlit's media file manager, each is a short
URL named by its content's hash: the browser fetches it once, and the table
only the rows it draws.  A file is kept while a page of this session shows it
(Streamlit drops it after the first run that no longer registers it).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence


def media_urls(blobs: Sequence[bytes], *, mimetype: str, key: str) -> list[str]:
    """URLs serving ``blobs`` to this session's page; ``key`` names their place on the page
    (the n-th blob is registered as ``key.n``).  Data URIs where no server runs (bare scripts)."""
    from streamlit import config, runtime

    if not runtime.exists():
        return [f"data:{mimetype};base64,{base64.b64encode(b).decode()}" for b in blobs]
    manager = runtime.get_instance().media_file_mgr
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""
    return [prefix + manager.add(b, mimetype, f"{key}.{i}") for i, b in enumerate(blobs)]


def media_url(blob: bytes, *, mimetype: str, key: str) -> str:
    """The URL of one blob (:func:`media_urls`)."""
    return media_urls([blob], mimetype=mimetype, key=key)[0]
