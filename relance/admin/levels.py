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
from relance.services import level_admin
from relance.services.engine.levels import LevelError
from relance.templating import render

BASIS_LABELS = {"due_date": _l("after the due date"), "previous": _l("after the previous reminder")}
CHANNEL_LABELS = {"email": _l("Email"), "letter": _l("Letter"), "both": _l("Email and letter"),
                  "phone": _l("Phone call only")}
PENALTY_LABELS = {"none": _l("No penalty"), "fixed": _l("Fixed amount"), "percent": _l("Percentage of the invoice")}


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
        "phone_call": form.get("phone_call") == "y",
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
        new = level_admin.update(db.session, level, draft, current_user)
    except LevelError as exc:
        if g.get("htmx"):
            return render("admin/_level.html", status=422,
                          **_context(level=level, errors={level.id: exc.errors}, drafts={level.id: draft}))
        return _page(422, errors={level.id: exc.errors}, drafts={level.id: draft})
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
        created = level_admin.create(db.session, draft, current_user)
    except LevelError as exc:
        return _page(422, new_errors=exc.errors, new_draft=draft)
    db.session.commit()
    flash(_("Level added with %(n)d default texts: adapt them in Reminder texts.", n=created), "success")
    return redirect(url_for("admin.levels"))


@bp.route("/levels/<int:level_id>/move/<direction>", methods=["POST"])
@role_required("manager")
def move_level(level_id: int, direction: str):
    level = db.get_or_404(ReminderLevel, level_id)
    if direction not in ("up", "down"):
        abort(404)
    try:
        level_admin.move(db.session, level, direction, current_user)
    except level_admin.MoveImpossible:
        abort(400)
    except LevelError as exc:
        message = _("This order is not possible: %(reason)s", reason=" ".join(exc.errors.values()))
        if g.get("htmx"):
            return _page(422, move_error=message)
        flash(message, "error")
        return redirect(url_for("admin.levels"))
    db.session.commit()
    if g.get("htmx"):
        return _page()
    return redirect(url_for("admin.levels"))
