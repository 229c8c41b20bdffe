"""Reminder levels editor: change a level inline (htmx), add one, move it up or down, disable it.

Every change goes through the engine's `levels.validate_level`, so the editor accepts exactly what the engine does.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from relance.admin import bp
from relance.auth import role_required
from relance.extensions import db
from relance.models import ReminderLevel
from relance.services import audit, texts
from relance.services.levels import LevelError, validate_level
from relance.templating import render

FIELDS = ("rank", "names", "delay", "basis", "automatic", "channels", "penalty_kind", "penalty_value",
          "formal_notice", "active")
BASIS_LABELS = {"due_date": _l("after the due date"), "previous": _l("after the previous reminder")}
CHANNEL_LABELS = {"email": _l("Email"), "letter": _l("Letter"), "both": _l("Email and letter")}
PENALTY_LABELS = {"none": _l("No penalty"), "fixed": _l("Fixed amount"), "percent": _l("Percentage of the invoice")}


def _as_dict(level: ReminderLevel) -> dict:
    return {key: getattr(level, key) for key in FIELDS}


def _values_from_form(form, rank: int) -> dict:
    return {
        "rank": rank,
        "names": {"fr": form.get("name_fr", ""), "en": form.get("name_en", "")},
        "delay": form.get("delay", ""),
        "basis": form.get("basis", ""),
        "channels": form.get("channels", ""),
        "penalty_kind": form.get("penalty_kind", ""),
        "penalty_value": form.get("penalty_value", ""),
        "automatic": form.get("automatic") == "y",
        "formal_notice": form.get("formal_notice") == "y",
        "active": form.get("active") == "y",
    }


def _levels() -> list[ReminderLevel]:
    return list(db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)))


def _context(**extra) -> dict:
    return {"basis_labels": BASIS_LABELS, "channel_labels": CHANNEL_LABELS, "penalty_labels": PENALTY_LABELS,
            "errors": {}, "drafts": {}, **extra}


def _page(status: int = 200, **extra):
    return render("admin/levels.html", "admin/_levels.html", status=status, **_context(levels=_levels(), **extra))


@bp.route("/levels")
@role_required("manager")
def levels():
    return _page()


@bp.route("/levels/<int:level_id>", methods=["POST"])
@role_required("manager")
def update_level(level_id: int):
    level = db.get_or_404(ReminderLevel, level_id)
    draft = _values_from_form(request.form, level.rank)
    try:
        cleaned = validate_level(draft)
    except LevelError as exc:
        if g.get("htmx"):
            return render("admin/_level.html", status=422,
                          **_context(level=level, errors={level.id: exc.errors}, drafts={level.id: draft}))
        return _page(422, errors={level.id: exc.errors}, drafts={level.id: draft})
    before = _as_dict(level)
    for key in FIELDS:
        setattr(level, key, cleaned[key])
    new = audit.record_changes(db.session, current_user, "update", "level", level.id, before, _as_dict(level))
    db.session.commit()
    if g.get("htmx"):
        return render("admin/_level.html", **_context(level=level, saved=bool(new)))
    flash(_("Level %(name)s saved.", name=level.name(str(get_locale()))), "success")
    return redirect(url_for("admin.levels"))


@bp.route("/levels/new", methods=["POST"])
@role_required("manager")
def new_level():
    rank = (db.session.scalar(select(func.max(ReminderLevel.rank))) or 0) + 1
    draft = _values_from_form(request.form, rank)
    try:
        cleaned = validate_level(draft)
    except LevelError as exc:
        return _page(422, new_errors=exc.errors, new_draft=draft)
    level = ReminderLevel(**{key: cleaned[key] for key in FIELDS})
    db.session.add(level)
    db.session.flush()
    created = texts.install_default_texts(db.session)  # the new level starts with the default texts
    audit.record(db.session, current_user, "create", "level", level.id, None, _as_dict(level))
    db.session.commit()
    flash(_("Level added with %(n)d default texts: adapt them in Reminder texts.", n=created), "success")
    return redirect(url_for("admin.levels"))


@bp.route("/levels/<int:level_id>/move/<direction>", methods=["POST"])
@role_required("manager")
def move_level(level_id: int, direction: str):
    level = db.get_or_404(ReminderLevel, level_id)
    if direction not in ("up", "down"):
        abort(404)
    ordered = _levels()
    index = ordered.index(level)
    other_index = index - 1 if direction == "up" else index + 1
    if not 0 <= other_index < len(ordered):
        abort(400)
    other = ordered[other_index]
    errors = {}
    for moved, rank in ((level, other.rank), (other, level.rank)):
        try:
            validate_level(dict(_as_dict(moved), rank=rank))
        except LevelError as exc:
            errors[moved.id] = exc.errors
    if errors:
        message = _("This order is not possible: %(reason)s",
                    reason=" ".join(m for e in errors.values() for m in e.values()))
        if g.get("htmx"):
            return _page(422, move_error=message)
        flash(message, "error")
        return redirect(url_for("admin.levels"))
    # swap the two ranks (through a free rank, the column is unique)
    rank_a, rank_b = level.rank, other.rank
    level.rank = -1000
    db.session.flush()
    other.rank = rank_a
    db.session.flush()
    level.rank = rank_b
    audit.record(db.session, current_user, "reorder", "level", level.id, {"rank": rank_a}, {"rank": rank_b})
    audit.record(db.session, current_user, "reorder", "level", other.id, {"rank": rank_b}, {"rank": rank_a})
    db.session.commit()
    if g.get("htmx"):
        return _page()
    return redirect(url_for("admin.levels"))
