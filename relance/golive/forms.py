"""The go-live form: fields as typed (checked by services/golive.py, which names the wrong field)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from relance.forms import Form


class GoLiveForm(Form):
    company_name = StringField(_l("Company name"))
    company_address = TextAreaField(_l("Address"), description=_l("Street and number, one or two lines."))
    company_postcode = StringField(_l("Postcode"))
    company_city = StringField(_l("City"))
    company_siren = StringField(_l("SIREN or SIRET"), description=_l("9 digits (SIREN) or 14 digits (SIRET); "
                                                                      "required for a French company."))
    company_vat = StringField(_l("VAT number"), description=_l("Intra-community VAT number, like FR44732829320 "
                                                               "(optional)."))
    company_iban = StringField(_l("IBAN"), description=_l("Printed on letters so customers can pay by transfer."))
    company_bic = StringField(_l("BIC"))
    sender_email = StringField(_l("Sender address of the emails"), render_kw={"inputmode": "email"},
                               description=_l("Automatic emails are sent from this address."))
    auto_hour = StringField(_l("Send hour (0-23)"), render_kw={"inputmode": "numeric"},
                            description=_l("The automatic run starts at this hour each day, in the company's time "
                                           "zone."))
    automatic = SelectMultipleField(_l("Automatic levels"), coerce=str, validate_choice=False,
                                    option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False),
                                    description=_l("None is automatic until you choose. The others are sent by "
                                                   "hand."))
    go_live_date = StringField(_l("Go-live date"), render_kw={"type": "date"},
                               description=_l("Invoices due before this date were already overdue: they are not "
                                              "chased automatically; you decide for each of them."))

    def values(self) -> dict:
        return {name: self[name].data for name in ("company_name", "company_address", "company_postcode",
                                                   "company_city", "company_siren", "company_vat", "company_iban",
                                                   "company_bic", "sender_email", "auto_hour", "automatic",
                                                   "go_live_date")}
