"""The summary as JSON, and back.

The document is `{"schema": SCHEMA, "model": ..., "rows": [...], "totals": {...},
"notes": [...]}`, each row and the totals with the fields of `LayerRow` and
`Counts`; `docs/summary.md` lists them.
"""

from __future__ import annotations

import json

from ._report import Report, report_from_dict, report_to_dict

SCHEMA = "eqxdsl.summary/1"


def to_json(report: Report) -> str:
    """`report` as a JSON document, keys in a fixed order."""
    return json.dumps({"schema": SCHEMA, **report_to_dict(report)}, indent=2) + "\n"


def from_json(text: str) -> Report:
    """The `Report` that `to_json` wrote as `text`."""
    data = json.loads(text)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not an eqxdsl summary of schema {SCHEMA!r} (schema: {data.get('schema')!r})")
    del data["schema"]
    return report_from_dict(data)
