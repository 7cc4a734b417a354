"""The book as one PDF, printed from the built HTML site by the system Chromium (``make pdf``).

Each page of ``_toc.yml`` is served from ``_build/html`` on 127.0.0.1, opened in Chromium
(driven by Playwright; ``playwright install`` is never used), and printed once MathJax has
typeset its maths and its images have loaded. Every request to another host is refused, so the
PDF is made offline. The exercises' solutions, folded on screen, are printed unfolded (the
theme's print style). pypdf then joins the pages into ``_build/pdf/dlcourse.pdf``, with one
outline entry (bookmark) per chapter; a link to another chapter becomes a jump to its first
page, and any other link to the local server a link to the published book. The PDF is copied
to ``_build/html/dlcourse.pdf``, where the book's introduction links it.

Run: ``python _ext/book_pdf.py`` (after ``make build``). ``--if-chromium`` skips with a
message, instead of failing, on a machine without Chromium (``make book`` uses it outside CI).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build" / "html"
PDF = ROOT / "_build" / "pdf" / "dlcourse.pdf"
INSTALL_HINT = (
    "sudo apt-get install chromium (Debian); on Ubuntu, whose chromium is a snap, install Google Chrome "
    "and set CHROMIUM=/usr/bin/google-chrome; elsewhere set CHROMIUM=/path/to/chrome"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Waits in the page before printing: maths typeset, every image decoded, web fonts ready.
READY = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(img => img.complete ? null : img.decode().catch(() => null)));
  await document.fonts.ready;
  const raw = [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container')).length;
  return raw + document.querySelectorAll('mjx-merror').length;
}"""
# Code is wrapped, not cut at the right margin as on a screen with a scroll bar.
PRINT_CSS = """@media print {
  pre, div.highlight pre, div.cell_output pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  div.highlight, div.cell_output { overflow: visible !important; }
}"""


def find_chromium() -> str | None:
    """The path of a system Chromium (``CHROMIUM`` overrides), or None."""
    if os.environ.get("CHROMIUM"):
        path = os.environ["CHROMIUM"]
        return path if os.access(path, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class BookServer:
    """Serve a built site on 127.0.0.1 at a free port, in a thread."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        """The served address of ``path`` (relative to the site's root)."""
        return f"http://127.0.0.1:{self.httpd.server_port}/{path}"

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


def toc_pages(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """The book's pages in reading order, as paths of the built site (``intro.html``, ...)."""
    text = toc.read_text()
    root = re.search(r"^root:\s*(\S+)", text, flags=re.MULTILINE)
    if root is None:
        raise ValueError(f"{toc} has no root: entry.")
    files = [root.group(1)] + re.findall(r"^\s*-\s*file:\s*(\S+)", text, flags=re.MULTILINE)
    return [f"{f}.html" for f in files]


def print_pages(pages: list[str], out_dir: Path, chromium: str) -> list[tuple[str, str, Path]]:
    """Print each page to its own PDF in ``out_dir``; returns (page title, page path, PDF) triples."""
    from playwright.sync_api import sync_playwright
    from tqdm.auto import tqdm

    server = BookServer(BUILD)
    printed, refused = [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = browser.new_context()
            context.add_init_script("try { localStorage.setItem('mode', 'light'); } catch (e) {}")

            def route(r):
                if r.request.url.startswith("http://127.0.0.1:"):
                    r.continue_()
                else:
                    refused.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.emulate_media(media="print")
            for k, path in enumerate(tqdm(pages, desc="printing pages", unit="page")):
                page.goto(server.url(path), wait_until="networkidle")
                page.add_style_tag(content=PRINT_CSS)
                raw = page.evaluate(READY)
                if raw:
                    raise RuntimeError(f"{path}: {raw} formula(s) untypeset or in error; the PDF would show raw TeX")
                title = page.locator("main h1").first.inner_text().strip().rstrip("#").strip()
                target = out_dir / f"{k:02d}.pdf"
                page.pdf(
                    path=str(target),
                    format="A4",
                    print_background=True,
                    margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=(
                        '<div style="font-size:8px;width:100%;text-align:center;color:#666">'
                        f"{_html_escape(title)} &middot; <span class='pageNumber'></span></div>"
                    ),
                )
                printed.append((title, path, target))
            browser.close()
    finally:
        server.close()
    if refused:
        raise RuntimeError(f"the pages asked for {len(refused)} resource(s) off this machine, e.g. {refused[0]}")
    return printed


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def published_url(config: Path = ROOT / "_config.yml") -> str:
    """Where GitHub Pages publishes the book: ``https://<owner>.github.io/<repository>/``, from the
    repository URL in ``_config.yml`` (the pattern of ``.github/workflows/pages.yml``)."""
    found = re.search(r"^\s+url:\s*https://github\.com/([^/\s]+)/([^/\s]+?)/?\s*$", config.read_text(), re.MULTILINE)
    if found is None:
        raise ValueError(f"{config}: repository.url is not a https://github.com/OWNER/REPO address.")
    return f"https://{found.group(1)}.github.io/{found.group(2)}/"


def _relink(writer, pages: list[str], starts: list[int], base: str) -> int:
    """Rewrite the links Chromium recorded to the local server: to another chapter, a jump to its
    first page; to anything else (the index, a source file), the same address in the published book.
    Returns how many links were rewritten."""
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

    first_page = dict(zip(pages, starts, strict=True))
    count = 0
    for page in writer.pages:
        for ref in page.get("/Annots") or []:
            annot = ref.get_object()
            action = annot.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action is not None else ""
            found = re.match(r"http://127\.0\.0\.1:\d+/([^#?]*)(.*)", uri)
            if found is None:
                continue
            path = found.group(1) or "index.html"
            if path in first_page:
                target = writer.pages[first_page[path]].indirect_reference
                annot[NameObject("/A")] = DictionaryObject(
                    {
                        NameObject("/S"): NameObject("/GoTo"),
                        NameObject("/D"): ArrayObject([target, NameObject("/XYZ"), NumberObject(0), NumberObject(0)]),
                    }
                )
            else:
                annot[NameObject("/A")] = DictionaryObject(
                    {
                        NameObject("/S"): NameObject("/URI"),
                        NameObject("/URI"): TextStringObject(base + path + found.group(2)),
                    }
                )
            count += 1
    return count


def join(printed: list[tuple[str, str, Path]], target: Path) -> int:
    """Join the printed pages into ``target`` with one outline entry per page, and rewrite the links
    to the local server; returns the page count."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    starts = []
    for title, _, path in printed:
        starts.append(len(writer.pages))
        writer.append(str(path), import_outline=False)
        writer.add_outline_item(title=title, page_number=starts[-1])
    _relink(writer, [page for _, page, _ in printed], starts, published_url())
    writer.add_metadata({"/Title": "dlcourse: deep learning from scratch", "/Author": "The dlcourse authors"})
    writer.page_mode = "/UseOutlines"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as f:
        writer.write(f)
    return len(writer.pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the built book to _build/pdf/dlcourse.pdf.")
    parser.add_argument("--if-chromium", action="store_true", help="skip (exit 0) when Chromium is missing")
    args = parser.parse_args(argv)
    if not (BUILD / "index.html").is_file():
        print(f"make pdf: no built book at {BUILD}; run `make build` (or `make book`) first.", file=sys.stderr)
        return 1
    chromium = find_chromium()
    if chromium is None:
        print(f"make pdf: Chromium not found, so no PDF is made. Install it with: {INSTALL_HINT}", file=sys.stderr)
        return 0 if args.if_chromium and os.environ.get("CI", "").lower() != "true" else 1
    with tempfile.TemporaryDirectory() as tmp:
        try:
            printed = print_pages(toc_pages(), Path(tmp), chromium)
        except Exception as exc:  # a browser that is there but cannot be driven (a snap, a broken install)
            if not args.if_chromium or os.environ.get("CI", "").lower() == "true":
                raise
            print(f"make pdf: {chromium} could not print the book ({exc}); no PDF. {INSTALL_HINT}", file=sys.stderr)
            return 0
        count = join(printed, PDF)
    shutil.copy(PDF, BUILD / PDF.name)
    print(
        f"wrote {PDF.relative_to(ROOT)} ({count} pages, {PDF.stat().st_size / 1e6:.1f} MB); also {BUILD.name}/{PDF.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
