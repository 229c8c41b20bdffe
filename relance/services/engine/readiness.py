"""Whether reminders can be made at all: an active level exists, and each active level has its text for each of its
channels in the languages that are read (the company's language and the languages of the customers).

`check(session)` answers a `Readiness` (what is missing, as data); `Readiness.messages()` says it in words, in the
current locale, for the CLI (`flask relance due` / `explain`), the dashboard and the mass page. It reads; it never
changes anything, and it decides nothing: the engine (`schedule`, `eligibility`) stays the one rulebook.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import Customer
from relance.models.reminder import level_label
from relance.services import settings as settings_service
from relance.services.engine.levels import channels_of, level_list, no_level_message, written_channels
from relance.services.engine.schedule import Level, choose_language, text_languages


@dataclass(frozen=True)
class MissingText:
    """Level `rank` has no usable text (subject and body) for `channel` in `language`; `used` is the language its
    readers get instead, None when the channel has no text in any language (the reminder fails)."""

    rank: int
    names: dict
    channel: str
    language: str
    used: str | None
    policy: str = ""  # the level's policy's name when there are several ("": only one, not said)


@dataclass(frozen=True)
class Readiness:
    active_levels: int
    missing: tuple[MissingText, ...] = ()

    @property
    def no_level(self) -> bool:
        return self.active_levels == 0

    @property
    def ready(self) -> bool:
        return not self.no_level and not self.missing

    def messages(self) -> list[str]:
        """One sentence per problem, in the current locale."""
        if self.no_level:
            return [no_level_message()]
        lines = []
        for m in self.missing:
            name = _level_name(m.names, m.rank)
            if m.policy:  # "Level 2 (Short · Second reminder)"
                name = f"{m.policy} · {name}"
            channel = _channel_word(m.channel)
            if m.used is None:
                lines.append(_("Level %(rank)s (%(name)s) has no %(channel)s text in any language: its %(channel)s "
                               "reminders fail. Write it under Administration > Reminder texts.",
                               rank=m.rank, name=name, channel=channel))
            else:
                lines.append(_("Level %(rank)s (%(name)s) has no %(channel)s text in %(language)s: customers who read "
                               "%(language)s get the %(used)s text. Write it under Administration > Reminder texts.",
                               rank=m.rank, name=name, channel=channel, language=language_name(m.language),
                               used=language_name(m.used)))
        return lines


def _channel_word(channel: str) -> str:
    return _("email") if channel == "email" else _("letter")


def _level_name(names: dict, rank: int) -> str:
    return level_label(names, str(get_locale() or "en")[:2], rank)


def language_name(code: str) -> str:
    """A language's name in the reader's language ("French", "anglais"), the code when Babel does not know it."""
    try:
        return Locale.parse(code).get_display_name(str(get_locale() or "en")) or code
    except (ValueError, UnknownLocaleError):
        return code


def read_languages(session: Session, default: str) -> list[str]:
    """The languages reminders are written in: the company's (`default`), then the customers' (one small query)."""
    found = session.scalars(select(Customer.language).distinct().where(Customer.language != "")).all()
    return [default, *sorted({language for language in found if language and language != default})]


def check(session: Session, languages: list[str] | None = None) -> Readiness:
    """What stops reminders from being made: no active level, or an active level without the text of one of its
    channels in one of `languages` (default: `read_languages`)."""
    every = level_list(session)
    levels = [level for level in every if level.active]  # of every policy
    if not levels:
        return Readiness(0)
    default = settings_service.load(session).default_language
    languages = languages if languages is not None else read_languages(session, default)
    available = text_languages(session)  # {(level id, channel): languages with a subject and a body}
    several = len({level.policy_id for level in every}) > 1
    missing = []
    for level in levels:
        policy = level.policy.name if several else ""
        for channel in written_channels(channels_of(level)):
            have = available.get((level.id, channel), set())
            for language in languages:
                used, _reason = choose_language(have, language, default)
                if used is not None and used in (language, language.split("_")[0]):  # de_CH reads the de text
                    continue
                missing.append(MissingText(level.rank, dict(level.names or {}), channel, language, used, policy))
                if used is None:  # nothing in any language: one line says it
                    break
    return Readiness(len(levels), tuple(missing))


def level_lines(session: Session, level: Level, wanted: str, default: str) -> list[str]:
    """What one level lacks to write to a reader of `wanted` (for `schedule.explain`): a channel without any text,
    or without it in that language (and which language is used instead)."""
    texts = text_languages(session)
    wanted = wanted or default
    lines = []
    for channel in written_channels(channels_of(level)):
        available = texts.get((level.id, channel), set())
        used, _reason = choose_language(available, wanted, default)
        if used is None:
            lines.append(_("Level %(rank)s has no %(channel)s text in any language: the reminder will fail. Write it "
                           "under Administration > Reminder texts.", rank=level.rank, channel=_channel_word(channel)))
        elif used != wanted.split("_")[0] and used != wanted:
            lines.append(fallback_message(level.rank, channel, wanted, used))
    return lines


def fallback_message(rank: int, channel: str, wanted: str | None, used: str) -> str:
    """Why a reminder is not written in its reader's language, in the current locale: "No German text for level 2
    by letter: the French text is used." (`wording.find_template`, the reminder form's preview, `explain`)."""
    values = {"language": language_name(wanted) if wanted else "?", "rank": rank, "used": language_name(used)}
    if channel == "letter":
        return _("No %(language)s text for level %(rank)s by letter: the %(used)s text is used.", **values)
    return _("No %(language)s text for level %(rank)s by email: the %(used)s text is used.", **values)
