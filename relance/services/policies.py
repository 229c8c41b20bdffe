"""Managing the reminder policies (issue 21): named sets of levels, one of them the default (the levels of every
customer that chose none: `Customer.policy_id` NULL). Create one, empty or as a copy of another (every level with
all its fields and every text of each level: the texts start a history of their own at version 1), rename one,
make one the default, delete one. Each change is checked (`PolicyError` naming the field, nothing changed) and
audited; the caller commits.

Deleting a policy moves its customers to the default policy (their column back to NULL) and deletes its levels
and their texts; the reminders made at those levels keep their snapshot (rank, names, formal notice) and lose
only their `level_id`. The default policy is never deleted.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from relance.models import Customer, Policy, Reminder, ReminderLevel, Template, TemplateVersion
from relance.services import audit
from relance.services.errors import RelanceError
from relance.services.texts.safe_text import control_error

NAME_MAX = 80  # Policy.name's column
# copied from a level to its copy: every column but its identity and policy
LEVEL_COPIED = tuple(c.key for c in ReminderLevel.__table__.columns if c.key not in ("id", "policy_id"))


class PolicyError(RelanceError):
    """A refused policy change: `message` names the field (`field`: "name", or None for the action)."""


def all_policies(session: Session) -> list[Policy]:
    """Every policy, the default first, then by name (case-insensitive)."""
    return sorted(session.scalars(select(Policy)), key=lambda p: (not p.is_default, p.name.casefold(), p.id))


def default_policy(session: Session) -> Policy | None:
    """The default policy; None only in a database that has none yet (it is made with the first level). Reads only."""
    return session.scalar(select(Policy).where(Policy.is_default).order_by(Policy.id).limit(1))


def find(session: Session, name: str) -> Policy | None:
    """The policy of that name, compared without case and outer spaces (the import's and the API's rule)."""
    wanted = name.strip().casefold()
    return next((p for p in session.scalars(select(Policy)) if p.name.casefold() == wanted), None)


def customer_counts(session: Session) -> dict[int | None, int]:
    """How many customers chose each policy ({policy id: count}; None: the customers following the default)."""
    return dict(session.execute(select(Customer.policy_id, func.count()).group_by(Customer.policy_id)).all())


def followers(session: Session, policy: Policy) -> int:
    """How many customers follow a policy (the default's: those that chose none, or chose it)."""
    counts = customer_counts(session)
    return counts.get(policy.id, 0) + (counts.get(None, 0) if policy.is_default else 0)


def clean_name(session: Session, raw: str | None, policy: Policy | None = None) -> str:
    """The name of a new policy (or `policy`'s new name): required, one line, at most NAME_MAX characters, no other
    policy's name (compared without case). Raises `PolicyError` (field "name")."""
    name = (raw or "").strip()
    if not name:
        raise PolicyError(_l("The policy name is required."), "name")
    if control_error(name):
        raise PolicyError(_l("The policy name must be one line, without control characters."), "name")
    if len(name) > NAME_MAX:
        raise PolicyError(_l("The policy name is too long: %(length)s characters, at most %(limit)s.",
                             length=len(name), limit=NAME_MAX), "name")
    other = find(session, name)
    if other is not None and other is not policy:
        raise PolicyError(_l('The policy name "%(name)s" is taken: another policy is called "%(other)s".',
                             name=name, other=other.name), "name")
    return name


def create(session: Session, name: str | None, user, source: Policy | None = None) -> Policy:
    """A new policy: empty, or a copy of `source` (its levels with all their fields, and their texts). Audited;
    raises `PolicyError` with nothing added. The caller commits."""
    policy = Policy(name=clean_name(session, name), is_default=False)
    session.add(policy)
    session.flush()
    levels = texts = 0
    if source is not None:
        levels, texts = _copy_levels(session, source, policy, user)
    audit.record(session, user, "create", "policy", policy.id, None,
                 {"name": policy.name, "copy_of": source.name if source is not None else None, "levels": levels,
                  "texts": texts})
    return policy


def _copy_levels(session: Session, source: Policy, target: Policy, user) -> tuple[int, int]:
    """Copy every level of `source` into `target` with every text of each level (each text a version 1 of its own:
    the source's history stays with the source). Returns (levels, texts) copied."""
    user_id = user.id if user is not None else None
    originals = list(session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == source.id)
                                     .order_by(ReminderLevel.rank)))
    texts = 0
    for original in originals:
        values = {key: getattr(original, key) for key in LEVEL_COPIED}
        values["names"] = dict(original.names or {})
        level = ReminderLevel(policy_id=target.id, **values)
        session.add(level)
        session.flush()
        for text in session.scalars(select(Template).where(Template.level_id == original.id)
                                    .order_by(Template.channel, Template.language)):
            copy = Template(level_id=level.id, channel=text.channel, language=text.language, subject=text.subject,
                            body=text.body, version=1, updated_by_id=user_id)
            copy.versions.append(TemplateVersion(version=1, subject=text.subject, body=text.body, user_id=user_id))
            session.add(copy)
            texts += 1
    session.flush()
    return len(originals), texts


def rename(session: Session, policy: Policy, name: str | None, user) -> bool:
    """Give a policy another name (checked as a new one's); audited; whether it changed. The caller commits."""
    cleaned = clean_name(session, name, policy)
    before = policy.name
    policy.name = cleaned
    return bool(audit.record_changes(session, user, "update", "policy", policy.id, {"name": before},
                                     {"name": cleaned}))


def make_default(session: Session, policy: Policy, user) -> bool:
    """Make `policy` the default: the customers that chose no policy follow it from now on (and those that chose it
    now simply follow the default). Audited; whether anything changed. The caller commits."""
    if policy.is_default:
        return False
    for old in session.scalars(select(Policy).where(Policy.is_default)):
        old.is_default = False
        audit.record(session, user, "update", "policy", old.id, {"is_default": True}, {"is_default": False})
    policy.is_default = True
    session.execute(update(Customer).where(Customer.policy_id == policy.id).values(policy_id=None)
                    .execution_options(synchronize_session="fetch"))
    audit.record(session, user, "update", "policy", policy.id, {"is_default": False}, {"is_default": True})
    session.flush()
    return True


def delete(session: Session, policy: Policy, user) -> int:
    """Delete a policy that is not the default: its customers follow the default policy, its levels and their texts
    go, the reminders made at them keep their snapshot. Audited; returns how many customers moved. Raises
    `PolicyError` for the default policy. The caller commits."""
    if policy.is_default:
        raise PolicyError(_l("The default policy cannot be deleted: make another policy the default first."))
    codes = sorted(session.scalars(select(Customer.code).where(Customer.policy_id == policy.id)))
    levels = list(session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == policy.id)))
    ids = [level.id for level in levels]
    # written here, not left to the foreign keys: SQLite runs without them
    session.execute(update(Customer).where(Customer.policy_id == policy.id).values(policy_id=None)
                    .execution_options(synchronize_session="fetch"))
    if ids:
        session.execute(update(Reminder).where(Reminder.level_id.in_(ids)).values(level_id=None)
                        .execution_options(synchronize_session="fetch"))
    for level in levels:
        session.delete(level)  # its texts and their versions with it (cascade)
    session.flush()
    session.expire(policy, ["levels"])
    audit.record(session, user, "delete", "policy", policy.id,
                 {"name": policy.name, "levels": len(levels), "customers": codes}, None)
    session.delete(policy)
    session.flush()
    return len(codes)
