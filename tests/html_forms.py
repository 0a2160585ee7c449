"""What a browser would send for a form on a page, read from the page's HTML."""

from __future__ import annotations

from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict


class _FormReader(HTMLParser):
    """The successful controls of every POST form of a page, with the form's attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.forms: list[tuple[dict, list[tuple[str, str]]]] = []
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._options: list[tuple[str, bool]] = []
        self._option_value: str | None = None
        self._option_selected = False
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.inside:
            if (a.get("method") or "get").lower() == "post":
                self.inside, self.pairs = True, []
                self.forms.append((a, self.pairs))
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.pairs.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "file", "reset", "image"):
                self.pairs.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_multiple, self._options = name, "multiple" in a, []
        elif tag == "option" and self._select is not None:
            self._option_value = a.get("value")
            self._option_selected = "selected" in a
            self._option_text = ""
        elif tag == "textarea" and name:
            self._textarea, self._textarea_text = name, ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea_text += data
        elif self._option_value is None and self._select is not None:
            self._option_text += data

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "option" and self._select is not None:
            value = self._option_value if self._option_value is not None else self._option_text
            self._options.append((value, self._option_selected))
            self._option_value = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected]
            if not chosen and not self._select_multiple and self._options:
                chosen = [self._options[0][0]]  # a browser sends the first option
            self.pairs.extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # The HTML parser keeps the newline a browser drops after <textarea>.
            text = self._textarea_text
            self.pairs.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "form":
            self.inside = False


def form_data(html: str, having: str) -> MultiDict:
    """What a browser would send, unchanged, for the first POST form with a field ``having``."""
    reader = _FormReader()
    reader.feed(html)
    for _attrs, pairs in reader.forms:
        if any(name == having for name, _value in pairs):
            return MultiDict(pairs)
    raise AssertionError(f"no POST form with a field {having!r} on the page")
