"""The kinds of report, in one registry.

A kind is a small addition: a function that gathers its data (a fixed number
of queries), a template under ``templates/reports/``, and the access rule
(in ``coalition/policy.py``) that says who may ask for it and read it. The
web form, the job, the download and ``flask reports build`` all take their
list of kinds from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import LazyString


@dataclass(frozen=True)
class ReportRequest:
    """What one report is made of: its kind, period, language and variant."""

    kind: str
    start: date
    end: date
    language: str = "en"
    confidential: bool = False
    timezone: str = "UTC"
    requested_by: str | None = None  # the name printed on the cover
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportKind:
    name: str
    label: LazyString
    template: str  # under templates/reports/
    permission: str  # who may ask for it and read it (policy rule)
    gather: Callable[[ReportRequest], dict[str, Any]]
    # Whether a staff-only variant (naming what the ordinary one hides) exists.
    confidential_variant: bool = False
    # When every variant holds confidential data (a dossier), not only the staff one.
    always_confidential: bool = False
    # What the ordinary and the staff variant hold, as the report's page says it.
    variants: tuple[LazyString, LazyString] | None = None
    # A report about one thing (a round, an application): the option naming it, how to
    # load it, and the rule (on that thing) the reader must pass to ask for it or read it.
    subject_option: str | None = None
    load_subject: Callable[[int], Any] | None = None
    subject_rule: str | None = None

    def subject_of(self, options: dict[str, Any] | None) -> Any:
        """The thing the report is about (None when the kind has none or it is gone)."""
        if self.subject_option is None or self.load_subject is None:
            return None
        value = (options or {}).get(self.subject_option)
        return self.load_subject(value) if isinstance(value, int) else None

    def variant_text(self, confidential: bool) -> str:
        if self.variants is None:
            return ""
        return str(self.variants[1] if confidential else self.variants[0])

    def is_confidential(self, request: ReportRequest) -> bool:
        return self.always_confidential or request.confidential


KINDS: dict[str, ReportKind] = {}


def register_kind(kind: ReportKind) -> ReportKind:
    known = KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"report kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def kind_names() -> list[str]:
    _load_kinds()
    return sorted(KINDS)


def get_kind(name: str) -> ReportKind | None:
    _load_kinds()
    return KINDS.get(name)


def _load_kinds() -> None:
    """Import every module that registers a kind (once)."""
    from coalition.steering.reports import dossier, membership, portfolio, round_report  # noqa: F401
