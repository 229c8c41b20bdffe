"""Managing the reminder levels (the admin's Levels page): create one (with the default texts), save one, move
one up or down; each checked by `engine.levels.validate_level`, audited; the caller commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import ReminderLevel
from relance.services import audit
from relance.services.engine.levels import LevelError, default_policy_id, validate_level
from relance.services.texts import wording

FIELDS = ("rank", "names", "delay", "basis", "automatic", "channels", "penalty_kind", "penalty_value",
          "formal_notice", "active", "phone_call")


class MoveImpossible(Exception):
    """The first level cannot go up, nor the last one down."""


def as_values(level: ReminderLevel) -> dict:
    return {key: getattr(level, key) for key in FIELDS}


def update(session: Session, level: ReminderLevel, values: dict, user) -> bool:
    """Save a level's checked values (raises `LevelError`, nothing changed), audited; whether anything changed.
    The caller commits. The level's names in languages `values` does not give (the form has French and English) are
    kept."""
    cleaned = validate_level(values)  # the names given (the form's) need one that is not empty
    given = values.get("names") or {}
    cleaned["names"] = {**{k: v for k, v in (level.names or {}).items() if k not in given}, **cleaned["names"]}
    before = as_values(level)
    for key in FIELDS:
        setattr(level, key, cleaned[key])
    return bool(audit.record_changes(session, user, "update", "level", level.id, before, as_values(level)))


def create(session: Session, values: dict, user, policy_id: int | None = None) -> int:
    """A new level of a policy (None: the default one) from checked values (raises `LevelError`, nothing added),
    starting with the default texts; audited; returns how many texts were made. The caller commits."""
    cleaned = validate_level(values)
    level = ReminderLevel(policy_id=policy_id or default_policy_id(session), **{key: cleaned[key] for key in FIELDS})
    session.add(level)
    session.flush()
    created = wording.install_default_texts(session)
    audit.record(session, user, "create", "level", level.id, None, as_values(level))
    return created


def move(session: Session, level: ReminderLevel, direction: str, user) -> None:
    """Swap the level's rank with its neighbour's ("up" or "down"), audited; raises `LevelError` when either level
    breaks a rule at its new rank (every message in `errors`), `MoveImpossible` past either end. The caller commits."""
    ordered = list(session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == level.policy_id)
                                   .order_by(ReminderLevel.rank)))
    index = ordered.index(level)
    other_index = index - 1 if direction == "up" else index + 1
    if not 0 <= other_index < len(ordered):
        raise MoveImpossible()
    other = ordered[other_index]
    errors: dict[str, str] = {}
    for moved, rank in ((level, other.rank), (other, level.rank)):
        try:
            validate_level(dict(as_values(moved), rank=rank))
        except LevelError as exc:
            errors.update({f"{moved.id}.{field}": message for field, message in exc.errors.items()})
    if errors:
        raise LevelError(errors)
    rank_a, rank_b = level.rank, other.rank  # swapped through a free rank: the column is unique
    level.rank = -1000
    session.flush()
    other.rank = rank_a
    session.flush()
    level.rank = rank_b
    audit.record(session, user, "reorder", "level", level.id, {"rank": rank_a}, {"rank": rank_b})
    audit.record(session, user, "reorder", "level", other.id, {"rank": rank_b}, {"rank": rank_a})
