"""Browser tests: load every page of the built book in Chromium with the network cut off.

The book is served from ``_build/html`` on 127.0.0.1. Any request to another host is
refused and recorded, so a CDN reference fails the test at once. Run after
``make book``; ``make test`` does both.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from _ext.book_pdf import BUILD, BookServer

PAGES = sorted(p.relative_to(BUILD).as_posix() for p in BUILD.rglob("*.html") if "_static" not in p.parts)
CHAPTERS = [p for p in PAGES if p.startswith("chapters/")]
NUMBERED = [p for p in CHAPTERS if p[len("chapters/") :][:2].isdigit()]  # the appendices (a1_, a2_) have no exercises
TITLE = "dlcourse: deep learning from scratch"


def _visit(context, server: BookServer, path: str):
    """Open one page; return the page and the problems seen while loading it."""
    problems: list[str] = []
    page = context.new_page()

    def refuse_outside(route):
        host = urlparse(route.request.url).hostname
        if host not in ("127.0.0.1", None):
            problems.append(f"request left the machine: {route.request.url}")
            route.abort()
        else:
            route.continue_()

    page.route("**/*", refuse_outside)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(server.url(path), wait_until="networkidle")
    # MathJax typesets asynchronously; wait for it where the page loads it.
    page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
    page.evaluate("() => window.MathJax && MathJax.startup.promise")
    return page, problems


def test_book_was_built():
    assert (BUILD / "index.html").is_file(), "run `make book` first: _build/html/index.html is missing"
    assert CHAPTERS, "no chapter pages under _build/html/chapters"


@pytest.mark.parametrize("path", PAGES)
def test_page_works_offline(browser_context, book_server, path):
    page, problems = _visit(browser_context, book_server, path)
    try:
        # Title: every page carries the book title.
        assert TITLE in page.title(), f"{path}: title is {page.title()!r}"

        # Maths: every math node was typeset, no raw TeX delimiters remain in the text.
        math = page.evaluate(
            "() => [...document.querySelectorAll('.math')].map(e => !!e.querySelector('mjx-container'))"
        )
        assert all(math), f"{path}: {math.count(False)} of {len(math)} maths nodes were not typeset"
        text = page.inner_text("main")
        assert not re.search(r"\\\(|\\\[|\$\$", text), f"{path}: raw TeX left in the page text"

        # Images: every <img> finished loading with real pixels.
        broken = page.evaluate(
            "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        assert not broken, f"{path}: images did not load: {broken}"

        # Widgets: where the page shows a widget view (a progress bar, say), the manager drew it.
        if page.locator("script[type='application/vnd.jupyter.widget-view+json']").count():
            page.wait_for_selector(".jupyter-widgets", timeout=10_000)

        # Static explorers: moving a slider swaps the picture.
        for explorer in page.locator(".dlc-explorer").all():
            img = explorer.locator("img")
            before = img.get_attribute("src")
            slider = explorer.locator("input[type=range]").first
            # to its far end, or to its start where it begins at its end (a slider of two values)
            slider.evaluate(
                "s => { s.value = s.value === s.max ? s.min : s.max; s.dispatchEvent(new Event('input')); }"
            )
            assert img.get_attribute("src") != before, f"{path}: an explorer slider does nothing"

        assert not problems, f"{path}:\n" + "\n".join(problems)
    finally:
        page.close()


@pytest.mark.parametrize("path", NUMBERED)
def test_chapter_has_exercises_and_solutions(browser_context, book_server, path):
    page, _ = _visit(browser_context, book_server, path)
    try:
        # Figures: a chapter without a single picture means its outputs were stored without them.
        assert page.locator("main img").count() > 0, f"{path}: no figures on the page"
        exercises = page.locator("div.exercise").count()
        solutions = page.locator("div.solution").count()
        assert exercises >= 4, f"{path}: {exercises} exercises, expected at least 4"
        assert solutions >= exercises, f"{path}: {solutions} solutions for {exercises} exercises"
        # Solutions start folded (dropdown) so a learner can try first.
        assert page.locator("div.solution.dropdown").count() == solutions
    finally:
        page.close()


def test_internal_links_resolve(book_server):
    """Every same-site link points to a page that exists and, for #anchors, to an id on it."""
    ids: dict[str, set[str]] = {}
    for html in BUILD.rglob("*.html"):
        ids[html.relative_to(BUILD).as_posix()] = set(re.findall(r'\bid="([^"]+)"', html.read_text()))
    bad = []
    for page_path in PAGES:
        source = (BUILD / page_path).read_text()
        for href in re.findall(r'<a [^>]*href="([^"]+)"', source):
            if re.match(r"^[a-z]+:", href) or href.startswith("//"):
                continue  # absolute: launch buttons, repository link
            url, frag = urldefrag(href)
            target = (Path(page_path).parent / url).as_posix() if url else page_path
            target = str(Path(target)).replace("\\", "/")
            target = re.sub(r"[^/]+/\.\./", "", target)
            if not (BUILD / target).exists():
                bad.append(f"{page_path}: {href} -> missing {target}")
            elif frag and target.endswith(".html") and frag not in ids.get(target, set()):
                bad.append(f"{page_path}: {href} -> no id {frag!r} on {target}")
    assert not bad, "broken internal links:\n" + "\n".join(bad)


def _repository_url() -> str:
    config = (BUILD.parents[1] / "_config.yml").read_text()
    return re.search(r"^repository:\s*\n\s+url:\s*(\S+)", config, re.M).group(1).rstrip("/")


@pytest.mark.parametrize("path", CHAPTERS)
def test_launch_buttons_and_download(path):
    """Binder and Colab buttons point at the repository set once in _config.yml; the .ipynb downloads."""
    html = (BUILD / path).read_text()
    repo = _repository_url()
    owner_name = repo.split("github.com/")[1]
    stem = Path(path).with_suffix(".ipynb").as_posix()
    assert f"https://mybinder.org/v2/gh/{owner_name}/main?urlpath=lab/tree/{stem}" in html
    assert f"https://colab.research.google.com/github/{owner_name}/blob/main/{stem}" in html
    download = re.search(r'href="([^"]*_sources/[^"]*\.ipynb)"', html)
    assert download, f"{path}: no .ipynb download link"
    assert (BUILD / path).parent.joinpath(download.group(1)).resolve().is_file()


def test_footer_copyright():
    html = (BUILD / "intro.html").read_text()
    assert re.search(r"©\s*Copyright\s*2026", html), "footer copyright is missing or wrong"


def test_favicon_is_served(book_server):
    """Browsers ask for /favicon.ico on every page; a 404 there is a console error for readers."""
    from urllib.request import urlopen

    with urlopen(book_server.url("favicon.ico")) as response:  # 127.0.0.1 only
        assert response.status == 200 and response.read(4) == b"\x00\x00\x01\x00"
