"""The PDF of the book (``make pdf``, ``_ext/book_pdf.py``): every chapter, in order, with its title
in the outline and the text, its figures, typeset maths, and a link to it from the introduction."""

from __future__ import annotations

import json
import re

import pytest

from _ext.book_pdf import BUILD, PDF, ROOT, published_url, toc_pages


def _title(page: str) -> str:
    """The first level-1 heading of a page's source (intro.md or a chapter notebook)."""
    source = ROOT / page.removesuffix(".html")
    if source.with_suffix(".md").is_file():
        text = source.with_suffix(".md").read_text()
    else:
        cells = json.loads(source.with_suffix(".ipynb").read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.search(r"^# (.+)$", text, flags=re.MULTILINE).group(1).strip()


def _png_outputs(page: str) -> int:
    source = (ROOT / page.removesuffix(".html")).with_suffix(".ipynb")
    if not source.is_file():
        return 0
    cells = json.loads(source.read_text())["cells"]
    return sum("image/png" in o.get("data", {}) for c in cells if c["cell_type"] == "code" for o in c["outputs"])


@pytest.fixture(scope="module")
def reader(chromium_path):
    """The PDF; skipped with the browser tests where no Chromium could print it (a failure in CI)."""
    from pypdf import PdfReader

    if not PDF.is_file():
        pytest.fail(f"no {PDF.relative_to(ROOT)}: run `make pdf` after the book is built")
    assert PDF.stat().st_mtime >= (BUILD / "index.html").stat().st_mtime, "the PDF is older than the built book"
    return PdfReader(str(PDF))


def _images(page) -> int:
    """Image XObjects a PDF page draws (counted in its resources, not decoded)."""
    xobjects = page.get("/Resources", {}).get("/XObject", {})
    return sum(1 for ref in xobjects.values() if ref.get_object().get("/Subtype") == "/Image")


@pytest.fixture(scope="module")
def chapters(reader) -> list[tuple[str, str, int]]:
    """(toc page, text, image count) of each chapter's page range, read once."""
    starts = [reader.get_destination_page_number(item) for item in reader.outline] + [len(reader.pages)]
    out = []
    for page, a, b in zip(toc_pages(), starts, starts[1:], strict=False):
        pages = [reader.pages[i] for i in range(a, b)]
        out.append((page, "\n".join(p.extract_text() for p in pages), sum(_images(p) for p in pages)))
    return out


def test_every_page_of_the_toc_is_a_chapter_of_the_pdf_in_order(reader):
    pages = toc_pages()
    outline = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    assert [title for title, _ in outline] == [_title(p) for p in pages]
    starts = [start for _, start in outline] + [len(reader.pages)]
    lengths = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert starts[0] == 0 and all(n >= 2 for n in lengths), lengths  # each chapter has its own pages
    assert 100 <= len(reader.pages) <= 2000, len(reader.pages)


def test_every_chapter_title_is_in_the_text_and_no_maths_is_raw(chapters):
    for page, text, _ in chapters:
        title = _title(page)
        assert " ".join(title.split()) in " ".join(text.split()), title
        # Sphinx writes maths between \( \) and \[ \]; MathJax replaces them when it typesets.
        raw = re.findall(r"\\\(|\\\)|\\\[|\\\]|\$\$", text)
        assert not raw, (title, raw[:5])


def test_each_chapter_holds_at_least_its_figures(chapters):
    for page, _, images in chapters:
        assert images >= _png_outputs(page), (page, images, _png_outputs(page))


def test_links_jump_inside_the_pdf_or_to_the_published_book(reader):
    """Chromium records the links as addresses of the local server that printed the pages; none may
    be left. Links to a chapter jump to its page; named in-page targets all exist."""
    names = reader.named_destinations
    jumps = 0
    for page in reader.pages:
        for ref in page.get("/Annots") or []:
            annot = ref.get_object()
            action = annot.get("/A")
            action = action.get_object() if action is not None else {}
            assert "127.0.0.1" not in str(action.get("/URI", "")), action
            if action.get("/S") == "/GoTo":
                jumps += 1
            if "/Dest" in annot and isinstance(annot["/Dest"], str):
                assert annot["/Dest"] in names, annot["/Dest"]
    assert jumps >= len(toc_pages()) - 1  # the introduction's contents list alone links every chapter
    assert published_url() == "https://dlcourse.github.io/dlcourse/"


def test_the_solutions_are_printed(chapters):
    """The solutions fold away on screen; on paper each chapter with exercises shows them."""
    for page, text, _ in chapters:
        if page.startswith("chapters/0"):
            assert "solution_" in text, page


def test_the_pdf_is_served_with_the_site_and_linked_from_the_introduction(reader):
    assert (BUILD / PDF.name).read_bytes() == PDF.read_bytes()
    intro = (BUILD / "intro.html").read_text()
    assert f'href="{PDF.name}"' in intro
