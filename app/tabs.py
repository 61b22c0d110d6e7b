"""The app's main tabs: their names and the session-state key of the open one.

Kept apart from ``app/main.py``, which draws the page when imported.
"""

TABS = ("Inspect", "Stretch", "Export", "Field and header")
TAB_KEY = "main_tab"
