"""The audit log: one table, one helper (``record``), and the convenor's browser."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import inspect

from coalition.audit.models import AuditEntry
from coalition.extensions import db


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def audit_value(value: Any) -> str:
    """A before or after value as a person reads it."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def changes_of(obj: Any, fields: list[str] | None = None) -> dict[str, list[Any]]:
    """Field-level [before, after] of an object's pending changes (before flush)."""
    state = inspect(obj)
    out: dict[str, list[Any]] = {}
    for attr in state.mapper.column_attrs:
        if fields is not None and attr.key not in fields:
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before != after:
            out[attr.key] = [_jsonable(before), _jsonable(after)]
    return out


def record(
    action: str,
    obj: Any = None,
    *,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    actor: Any = None,
    object_type: str | None = None,
    object_id: Any = None,
    ip_address: str | None = None,
) -> AuditEntry:
    """Add one audit row to the current transaction (the caller commits).

    The actor defaults to the signed-in user, the address to the request's
    (a background job passes the address of the request that queued it).
    """
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()
    if obj is not None:
        object_type = object_type or obj.__class__.__name__
        if object_id is None:
            object_id = getattr(obj, "id", None)
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        changes=_jsonable(changes) if changes else None,
        details=_jsonable(details) if details else None,
        ip_address=ip_address or (request.remote_addr if has_request_context() else None),
    )
    db.session.add(entry)
    return entry
