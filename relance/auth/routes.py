from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from relance.auth import bp
from relance.auth.forms import LoginForm
from relance.extensions import db
from relance.extensions import login as login_manager
from relance.models import User
from relance.models.base import utcnow
from relance.services import throttle


@login_manager.user_loader
def load_user(user_id: str):
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None  # deactivation ends open sessions


def _safe_next(target: str | None) -> str:
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("main.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        now, ip = utcnow(), request.remote_addr or ""
        wait = throttle.wait_seconds(db.session, email, ip, now)
        if wait:
            minutes = max(1, -(-wait // 60))
            flash(ngettext("Too many failed logins. Wait %(num)d minute before trying again.",
                           "Too many failed logins. Wait %(num)d minutes before trying again.", minutes), "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if user is None or not user.check_password(form.password.data) or not user.active:
            throttle.record_failure(db.session, email, ip, now)
            db.session.commit()
            flash(_("Unknown email or wrong password."), "error")
            return render_template("auth/login.html", form=form), 401
        throttle.clear_account(db.session, email)
        db.session.commit()
        login_user(user, remember=form.remember.data)
        session.pop("language", None)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
