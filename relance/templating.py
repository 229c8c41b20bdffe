"""Jinja filters and helpers shared by every page: money and dates in the reader's language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_datetime as babel_format_datetime
from flask import Flask, Response, current_app, g, make_response, render_template
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup, escape

from relance.services import answers, calls
from relance.services.engine.levels import CHANNEL_LABELS, delay_text
from relance.services.texts import typography
from relance.services.texts.formatting import ENGLISH_SHORT_DATE, format_money, money_for_reader, short_day
from relance.services.texts.languages import language_label

ROLE_LABELS = {"viewer": _l("viewer"), "agent": _l("agent"), "manager": _l("manager"), "admin": _l("admin")}
# every reminder status (models.REMINDER_STATUSES), in its order, with its badge
REMINDER_STATUS_LABELS = {"pending": _l("pending"), "sent": _l("sent"), "to_post": _l("to post"),
                          "posted": _l("posted"), "failed": _l("failed"), "cancelled": _l("cancelled"),
                          "to_call": _l("to call"), "called": _l("called")}
RUN_STATUS_LABELS = {"done": _l("done"), "failed": _l("failed"), "running": _l("running"), "queued": _l("queued"),
                     "waiting": _l("waiting")}
REMINDER_STATUS_BADGES = {"sent": "ok", "posted": "ok", "to_post": "warn", "pending": "warn", "failed": "err",
                          "to_call": "warn", "called": "ok"}


def money(amount: Decimal | None, currency: str = "EUR") -> str:
    if amount is None:
        return ""
    return money_for_reader(amount, currency)


_ENGLISH_DATETIME = ENGLISH_SHORT_DATE + ", HH:mm"  # English short dates are ambiguous (formatting.format_day)


def short_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    english = str(get_locale() or "").startswith("en")
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # a moment of the company's day (the next run): said in its own zone
            return babel_format_datetime(value, _ENGLISH_DATETIME if english else "short", tzinfo=value.tzinfo,
                                         locale=get_locale())
        return format_datetime(value, _ENGLISH_DATETIME if english else "short")
    return format_date(value, ENGLISH_SHORT_DATE if english else "short")


def _reader(context) -> str:
    """The page's reader language: `current_locale`, worked out once per page by the context processor (the same
    `str(get_locale() or "fr")`), instead of asking Flask-Babel again for each of a page's hundreds of amounts and
    dates; templates rendered without it (imported without context, outside a request) ask."""
    return context.get("current_locale") or str(get_locale() or "fr")


@pass_context
def _money_filter(context, amount: Decimal | None, currency: str = "EUR") -> str:
    return "" if amount is None else format_money(amount, currency, _reader(context))


@pass_context
def _short_date_filter(context, value: date | datetime | str | None) -> str:
    if isinstance(value, str):  # a day kept as text (settings): shown as any day, the text itself when not a date
        text = value
        try:
            value = date.fromisoformat(text)
        except ValueError:
            return text
    if type(value) is date:  # a day: the same text as `short_date`, one Babel call per day and language
        return short_day(value, _reader(context))
    return short_date(value)


def label(text) -> str:
    """A label before its value: "Subject:" in English, "Objet\u00a0:" in French (no-break space)."""
    return typography.for_language(f"{text}:", str(get_locale() or ""))


def render(page: str, fragment: str | None = None, status: int = 200, **context) -> Response:
    """One URL serves the full page or, for htmx requests, just its fragment."""
    template = fragment if (fragment and g.get("htmx")) else page
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def _escaped_html(self) -> Markup:
    return escape(str(self))


# Flask-Babel's lazy strings claim to be safe HTML (__html__ returns the raw text), so a lazy message holding
# user data (`_l("Line %(n)d: %(code)s", code=...)`) would reach the page unescaped. Translations hold no
# markup: escape them like any other text. (Jinja's `finalize` would be public but costs a call per expression and
# misses `Markup.format` in Python.) Flask-Babel is pinned; tests/test_internals.py checks the patch holds.
LazyString.__html__ = _escaped_html


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = _money_filter
    app.jinja_env.filters["short_date"] = _short_date_filter
    app.jinja_env.filters["delay_text"] = delay_text
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["language_name"] = language_label
    app.jinja_env.globals["run_status_labels"] = RUN_STATUS_LABELS  # a global: macros imported without context
    app.jinja_env.globals["answer_status_labels"] = answers.STATUS_LABELS
    app.jinja_env.globals["answer_reason_label"] = lambda code: str(answers.REASON_LABELS.get(code, code))
    app.jinja_env.globals["answer_broken"] = answers.broken

    @app.context_processor
    def _globals():
        return {
            "current_locale": str(get_locale() or "fr"),
            "has_role": lambda role: current_user.is_authenticated and current_user.has_role(role),
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "url_rules": current_app.view_functions,
            "reminder_status_labels": REMINDER_STATUS_LABELS,
            "channel_labels": CHANNEL_LABELS, "call_outcome_labels": calls.OUTCOME_LABELS,
            "reminder_status_badges": REMINDER_STATUS_BADGES,
        }
