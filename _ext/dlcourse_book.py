"""Local Sphinx tweaks for the dlcourse book.

- Each script goes on a page once. Jupyter Book 1 registers sphinx-thebe's inline
  config script twice, which makes the browser throw
  "Identifier 'THEBE_JS_URL' has already been declared" on every page.
"""

from __future__ import annotations

from typing import Any


def _dedupe_scripts(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # Sphinx stores an inline script's filename as None or "" depending on who added it.
        key = (getattr(script, "filename", None) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
