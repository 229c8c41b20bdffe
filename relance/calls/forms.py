"""The outcome of a call to a customer (one form per customer on the calls page: `prefix` keeps their fields
apart)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from relance.forms import Form, choices
from relance.services import answers
from relance.services import calls as call_service


class OutcomeForm(Form):
    calls = HiddenField()
    outcome = RadioField(_l("Outcome"), choices=choices(call_service.OUTCOME_LABELS.items()),
                         validators=[InputRequired(message=_l("Choose the outcome of the call."))])
    promise_date = DateField(_l("Will pay on"), validators=[Optional()])
    dispute_reason = SelectField(_l("Reason of the dispute"), choices=[], validators=[Optional()],
                                 validate_choice=False)
    note = TextAreaField(_l("Note"), validators=[Length(max=call_service.NOTE_MAX)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dispute_reason.choices = choices([("", "—"), *((k, str(v)) for k, v in answers.REASON_LABELS.items())])
