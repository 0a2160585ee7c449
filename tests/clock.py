"""The suite's clock: ``NOW``, ``TODAY`` and ``MONTH_START``, kept current.

Test modules and factories take these at import (``from tests.clock import
NOW``), and the suite takes half an hour. A run that crosses midnight UTC would
then hold the day the suite started against the app's today: a payment dated
"today" reads as yesterday's, a report's period ends the day before the rows it
should count. Before each test, :func:`refresh` gives every ``tests`` module
that holds one of these values (the very object handed out here, so a module's
own fixed ``NOW = datetime(2026, 3, 15, …)`` is left alone) the time the test
starts.
"""

from __future__ import annotations

import sys
from datetime import date, datetime

from coalition.db import utcnow

NAMES = ("NOW", "TODAY", "MONTH_START")


def _values(now: datetime) -> dict[str, datetime | date]:
    now = now.replace(microsecond=0)
    return {"NOW": now, "TODAY": now.date(), "MONTH_START": now.date().replace(day=1)}


_issued = _values(utcnow())
NOW: datetime = _issued["NOW"]
TODAY: date = _issued["TODAY"]
MONTH_START: date = _issued["MONTH_START"]


def refresh(now: datetime | None = None) -> datetime:
    global _issued
    old, new = _issued, _values(now or utcnow())
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "tests" or name.startswith("tests.")):
            continue
        namespace = vars(module)
        for key in NAMES:
            if namespace.get(key) is old[key]:
                namespace[key] = new[key]
    _issued = new
    return new["NOW"]
