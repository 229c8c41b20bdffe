"""The one base class of the errors a service raises for a person to act on (a refused form, a bad CSV cell, a
reminder the rules refuse). Services raise them; routes, the API and the CLI show `message` next to `field`.

It lives in the services layer because services import no area package (`relance.errors` is the web's error pages).
"""

from __future__ import annotations


class RelanceError(ValueError):
    """A refusal a person can act on. `message`: the translatable text (a lazy string: render it with `str()` in the
    reader's language); `field`: the form or CSV field it concerns, None for the request as a whole. `str(error)` is
    the message as rendered when raised (the default locale outside a request)."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
