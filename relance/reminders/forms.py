from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from relance import params
from relance.forms import Form, Within


class ReminderForm(Form):
    """A reminder made by hand. Invoice and level are checked by the view (clear messages, never a bare
    "not a valid choice"); `token` makes a double submit create one reminder."""

    invoice = IntegerField(_l("Invoice"), validators=[InputRequired(message=_l("Choose an invoice.")),
                                                      Within(1, params.MAX_ID)])
    customer = IntegerField(validators=[Optional(), Within(1, params.MAX_ID)])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)],
                         description=_l("E.g. Called the accountant, no answer: simple reminder sent today."))
    level = IntegerField(_l("Level"), validators=[InputRequired(message=_l("Choose a level.")),
                                                  Within(0, params.MAX_RANK)])
    next_date = DateField(_l("Next reminder date"), validators=[Optional()])
    by_email = BooleanField(_l("Send by email"))
    override = BooleanField(_l("Send anyway"))
    override_reason = TextAreaField(_l("Why send it anyway"), validators=[Length(max=2000)])
    token = HiddenField()
