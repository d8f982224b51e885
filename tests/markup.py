"""A page read as a browser reads it, so that a test asserts a value in the element that shows it
rather than anywhere in the page: `text_of(page, "#open-count") == "4 / 6"`, not `"4 / 6" in page`.

Parsed with the HTML5 parser and CSS selectors WeasyPrint already brings (tinyhtml5, cssselect2).
`page` is a response, its text, or an element found earlier (to look inside it); text is
whitespace-normalised as a reader sees it."""
import re
from functools import lru_cache

import cssselect2
import tinyhtml5


@lru_cache(maxsize=16)
def _root(source):
    return cssselect2.ElementWrapper.from_html_root(tinyhtml5.parse(source))


def _wrapped(page):
    if hasattr(page, "get_data"):
        page = page.get_data(as_text=True)
    if isinstance(page, str):
        return _root(page)
    return cssselect2.ElementWrapper.from_html_root(page)  # an element: its descendants


def _squash(node):
    return re.sub(r"\s+", " ", "".join(node.itertext())).strip()


def elements(page, selector):
    """The elements (xml.etree elements) the selector matches, in document order."""
    return [match.etree_element for match in _wrapped(page).query_all(selector)]


def element(page, selector):
    """The single element the selector matches; fails if none or several do."""
    found = elements(page, selector)
    assert len(found) == 1, f"{selector!r} matches {len(found)} elements: {[_squash(node)[:80] for node in found]}"
    return found[0]


def text_of(page, selector):
    """The text of the single element the selector matches."""
    return _squash(element(page, selector))


def texts_of(page, selector):
    """The texts of every element the selector matches, in order."""
    return [_squash(node) for node in elements(page, selector)]


def options_of(page, selector):
    """The options a <select> offers, in order, as (value, label)."""
    return [(option.get("value", _squash(option)), _squash(option)) for option in elements(page, f"{selector} option")]


def chosen(page, selector):
    """The values of the options chosen in a <select>."""
    return [option.get("value", _squash(option)) for option in elements(page, f"{selector} option[selected]")]


def rows_of(page, selector):
    """The cells' texts of every table row the selector matches: [["A栋", "3", "100.0%"], ...]."""
    return [[_squash(cell) for cell in row if cell.tag.rpartition("}")[2] in ("th", "td")] for row in elements(page, selector)]
