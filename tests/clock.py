"""The suite's clock: ``NOW``, ``TODAY`` and ``MONTH_START`` kept current.

Test modules and factories take ``NOW`` (and ``TODAY``, ``MONTH_START``) when
they are imported, and the suite takes half an hour. A run that crosses
midnight UTC would then hold the day the suite started against the app's
today: a payment dated "today" reads as yesterday's, a report's period ends
the day before the rows it should count. Before each test, :func:`refresh`
sets these names, in every ``tests`` module that has them, to the time the
test starts. A test that needs a fixed instant gives it another name.
"""

from __future__ import annotations

import sys
from datetime import datetime

from coalition.db import utcnow

NAMES = ("NOW", "TODAY", "MONTH_START")


def refresh(now: datetime | None = None) -> datetime:
    now = (now or utcnow()).replace(microsecond=0)
    today = now.date()
    values = {"NOW": now, "TODAY": today, "MONTH_START": today.replace(day=1)}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "tests" or name.startswith("tests.")):
            continue
        namespace = vars(module)
        for key, value in values.items():
            if key in namespace:
                namespace[key] = value
    return now
