"""The audit log: who changed what, when, with the values before and after."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from relance.models import AuditLog, User


def jsonable(value: Any) -> Any:
    """Values as JSON can store them (Decimal and dates as text)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The audited fields of a row, as JSON can store them."""
    return {name: jsonable(getattr(obj, name)) for name in fields}


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, as (before, after)."""
    keys = [k for k in after if jsonable(before.get(k)) != jsonable(after.get(k))]
    return {k: jsonable(before.get(k)) for k in keys}, {k: jsonable(after.get(k)) for k in keys}


def record(
    session: Session,
    user: User | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row to the session; the caller commits it with the change itself."""
    row = AuditLog(
        user_id=user.id if user is not None else None,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
    )
    session.add(row)
    return row


def record_changes(session: Session, user: User | None, action: str, entity: str, entity_id: Any,
                   before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Audit only the fields whose value changed (none changed: nothing recorded); returns the changed values."""
    old, new = changes(before, after)
    if new:
        record(session, user, action, entity, entity_id, old, new)
    return new
