"""Reminder levels editor, one policy at a time (`?policy=<id>`, the default policy without it): change a level
inline (htmx), add one, move it up or down, disable it; create a policy (empty or as a copy of another), rename one,
make one the default, delete one (`services/policies.py`).

Every change goes through the engine's `levels.validate_level`, so the editor accepts exactly what the engine does.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from relance import params
from relance.admin import bp
from relance.auth import role_required
from relance.extensions import db
from relance.models import Policy, ReminderLevel
from relance.services import level_admin, policies
from relance.services.engine.levels import LevelError, default_policy_id
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


def _levels(policy: Policy) -> list[ReminderLevel]:
    return list(db.session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == policy.id)
                                   .order_by(ReminderLevel.rank)))


def _policy(raw: str | None) -> Policy:
    """The policy an id from the query or a form names (404 when it names none); the default policy without one
    (made when the database has none yet)."""
    if not (raw or "").strip():
        return db.get_or_404(Policy, default_policy_id(db.session))
    policy = params.lookup(Policy, raw)
    if policy is None:
        abort(404)
    return policy


def _levels_url(policy: Policy | int) -> str:
    return url_for("admin.levels", policy=policy if isinstance(policy, int) else policy.id)


def _context(**extra) -> dict:
    return {"basis_labels": BASIS_LABELS, "channel_labels": CHANNEL_LABELS, "penalty_labels": PENALTY_LABELS,
            "errors": {}, "drafts": {}, **extra}


def _page(policy: Policy, status: int = 200, **extra):
    everyone = policies.all_policies(db.session)
    default = next((p for p in everyone if p.is_default), policy)
    followers = policies.followers(db.session, policy)
    return render("admin/levels.html", "admin/_levels.html", status=status, **_context(
        levels=_levels(policy), policy=policy, policies=everyone, default=default, followers=followers,
        confirm=_questions(policy, default, followers), **{"policy_errors": {}, "policy_draft": {}, **extra}))


def _questions(policy: Policy, default: Policy, followers: int) -> dict:
    """What the page asks before making `policy` the default or deleting it."""
    if policy.is_default:
        return {}
    moving = policies.followers(db.session, default)
    if followers:
        delete = ngettext("Delete the policy %(name)s with its levels and texts? Its %(num)d customer will follow "
                          "the default policy %(default)s.",
                          "Delete the policy %(name)s with its levels and texts? Its %(num)d customers will follow "
                          "the default policy %(default)s.", followers, name=policy.name, default=default.name)
    else:
        delete = _("Delete the policy %(name)s with its levels and texts?", name=policy.name)
    if moving:
        make_default = ngettext(
            "Make %(name)s the default policy? The %(num)d customer without a policy of their own will follow it "
            "instead of %(default)s.",
            "Make %(name)s the default policy? The %(num)d customers without a policy of their own will follow it "
            "instead of %(default)s.", moving, name=policy.name, default=default.name)
    else:
        make_default = _("Make %(name)s the default policy?", name=policy.name)
    return {"delete": delete, "default": make_default}


@bp.route("/levels")
@role_required("manager")
def levels():
    first = policies.default_policy(db.session) is None  # a database without levels yet: the default policy is made
    chosen = params.id_arg("policy")  # 400 when not a whole number
    policy = _policy(str(chosen) if chosen is not None else None)
    if first:
        db.session.commit()
    return _page(policy)


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
        return _page(level.policy, 422, errors={level.id: exc.errors}, drafts={level.id: draft})
    db.session.commit()
    if g.get("htmx"):
        return render("admin/_level.html", **_context(level=level, saved=bool(new)))
    flash(_("Level %(name)s saved.", name=level.name(str(get_locale()))), "success")
    return redirect(_levels_url(level.policy_id))


@bp.route("/levels/new", methods=["POST"])
@role_required("manager")
def new_level():
    policy = _policy(request.form.get("policy"))
    rank = (db.session.scalar(select(func.max(ReminderLevel.rank)).where(ReminderLevel.policy_id == policy.id))
            or 0) + 1
    draft = _values_from_form(request.form, rank)
    try:
        created = level_admin.create(db.session, draft, current_user, policy_id=policy.id)
    except LevelError as exc:
        return _page(policy, 422, new_errors=exc.errors, new_draft=draft)
    db.session.commit()
    flash(_("Level added with %(n)d default texts: adapt them in Reminder texts.", n=created), "success")
    return redirect(_levels_url(policy))


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
            return _page(level.policy, 422, move_error=message)
        flash(message, "error")
        return redirect(_levels_url(level.policy_id))
    db.session.commit()
    if g.get("htmx"):
        return _page(level.policy)
    return redirect(_levels_url(level.policy_id))


# --- policies ---------------------------------------------------------------------------------------------------

@bp.route("/policies/new", methods=["POST"])
@role_required("manager")
def new_policy():
    """A new policy: a copy of the policy chosen in `source` (its levels and texts), or empty (`source` "")."""
    shown = _policy(request.form.get("policy"))  # the policy the page showed: shown again on an error
    raw_source = (request.form.get("source") or "").strip()
    source = _policy(raw_source) if raw_source else None
    name = request.form.get("name", "")
    try:
        policy = policies.create(db.session, name, current_user, source=source)
    except policies.PolicyError as exc:  # raised before anything is added
        return _page(shown, 422, policy_errors={"new": str(exc.message)},
                     policy_draft={"name": name, "source": raw_source})
    db.session.commit()
    if source is not None:
        flash(_("Policy %(name)s created: %(levels)d levels and %(texts)d texts copied from %(source)s.",
                name=policy.name, levels=len(policy.levels), texts=_text_count(policy), source=source.name),
              "success")
    else:
        flash(_("Policy %(name)s created without levels: add its levels below.", name=policy.name), "success")
    return redirect(_levels_url(policy))


def _text_count(policy: Policy) -> int:
    return sum(len(level.templates) for level in policy.levels)


@bp.route("/policies/<int:policy_id>/rename", methods=["POST"])
@role_required("manager")
def rename_policy(policy_id: int):
    policy = db.get_or_404(Policy, policy_id)
    name = request.form.get("name", "")
    try:
        changed = policies.rename(db.session, policy, name, current_user)
    except policies.PolicyError as exc:  # raised before anything is changed
        return _page(policy, 422, policy_errors={"rename": str(exc.message)}, policy_draft={"rename": name})
    db.session.commit()
    flash(_("Policy renamed %(name)s.", name=policy.name) if changed else _("Nothing was changed."), "success")
    return redirect(_levels_url(policy))


@bp.route("/policies/<int:policy_id>/default", methods=["POST"])
@role_required("manager")
def default_policy(policy_id: int):
    policy = db.get_or_404(Policy, policy_id)
    policies.make_default(db.session, policy, current_user)
    db.session.commit()
    flash(_("%(name)s is now the default policy.", name=policy.name), "success")
    return redirect(_levels_url(policy))


@bp.route("/policies/<int:policy_id>/delete", methods=["POST"])
@role_required("manager")
def delete_policy(policy_id: int):
    policy = db.get_or_404(Policy, policy_id)
    name = policy.name
    try:
        moved = policies.delete(db.session, policy, current_user)
    except policies.PolicyError as exc:  # the default policy: nothing changed
        flash(str(exc.message), "error")
        return redirect(_levels_url(policy_id))
    db.session.commit()
    default = policies.default_policy(db.session)
    if moved and default is not None:
        flash(ngettext("Policy %(name)s deleted: %(num)d customer now follows the default policy %(default)s.",
                       "Policy %(name)s deleted: %(num)d customers now follow the default policy %(default)s.",
                       moved, name=name, default=default.name), "success")
    else:
        flash(_("Policy %(name)s deleted.", name=name), "success")
    return redirect(url_for("admin.levels"))
