"""Import of a member list (CSV or XLSX): read, check (dry run), commit.

One code path serves the web (a background job) and ``flask members import``.
Each stage is a module of its own, and each reads only the ones before it:

* ``values``: the words each field takes (English and French) and the parsers;
* ``columns``: which column gives which field, by name and then by values;
* ``reading``: ``read_table(data, filename, sheet)`` turns the bytes into a
  ``Table``, or raises ``ImportFileError``;
* ``duplicates``: the register in memory, likely duplicates, what a row changes;
* ``checking``: ``plan(table)`` checks every row and decides its action;
  ``analyse(table)`` is the dry run's JSON-ready report;
* ``committing``: ``commit(table_or_plan, actor, skip_errors=...)`` writes, all
  or nothing, and the caller commits;
* ``messages``: the report in the reader's words;
* ``job``: the background job, and the one-time import of a check.

This module gathers what callers use.
"""

from coalition.members.importing.checking import Plan, Row, analyse, parse_row, plan
from coalition.members.importing.committing import ImportRefused, commit, refusal_message
from coalition.members.importing.job import (
    JOB_KIND,
    AlreadyImported,
    import_of,
    run_import_job,
    start_import,
)
from coalition.members.importing.messages import (
    action_label,
    change_labels,
    column_note_message,
    country_label,
    duplicate_message,
    row_error_message,
)
from coalition.members.importing.reading import (
    MAX_IMPORT_BYTES,
    ImportFileError,
    SheetChoiceNeeded,
    Table,
    file_error_message,
    read_table,
)

__all__ = [
    "JOB_KIND",
    "MAX_IMPORT_BYTES",
    "AlreadyImported",
    "ImportFileError",
    "ImportRefused",
    "Plan",
    "Row",
    "SheetChoiceNeeded",
    "Table",
    "action_label",
    "analyse",
    "change_labels",
    "column_note_message",
    "commit",
    "country_label",
    "duplicate_message",
    "file_error_message",
    "import_of",
    "parse_row",
    "plan",
    "read_table",
    "refusal_message",
    "row_error_message",
    "run_import_job",
    "start_import",
]
