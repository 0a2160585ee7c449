"""Markdown that staff write (a round's description), made safe to show anyone.

CommonMark with raw HTML switched off, then cleaned by nh3 against a small
allow-list: whatever gets past the parser, no script, event handler, image or
``javascript:`` link reaches a page.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "p",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "a",
        "h2",
        "h3",
        "h4",
        "blockquote",
        "code",
        "pre",
        "br",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href"}}
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"

_parser = MarkdownIt("commonmark", {"html": False})


def _heading(self, tokens, idx, options, env):
    # The page's own title is the h1: the text's headings start one level below,
    # and anything deeper than h4 stays an h4.
    token = tokens[idx]
    token.tag = f"h{min(int(token.tag[1]) + 1, 4)}"
    return self.renderToken(tokens, idx, options, env)


_parser.add_render_rule("heading_open", _heading)
_parser.add_render_rule("heading_close", _heading)


def render_markdown(text: str | None) -> Markup:
    """``text`` as safe HTML: only the allowed tags, links to http, https and mailto only."""
    if not text:
        return Markup("")
    html = _parser.render(text)
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_SCHEMES),
        # A relative link would point into the application itself: drop it.
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - nh3 has cleaned it against the allow-list
