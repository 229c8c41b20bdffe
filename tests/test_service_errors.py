"""One base for the errors a person acts on: every service error is a RelanceError (still a ValueError) with a
translatable `message` and the `field` it concerns, and services import no area package to get it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from relance.services.engine import eligibility
from relance.services.engine.levels import DelayError, LevelError, parse_delay
from relance.services.errors import RelanceError
from relance.services.letters.invoice_pdf import PdfUploadError
from relance.services.payments import PaymentError
from relance.services.sending.autorun_preview import AutoRunError
from relance.services.sending.dunning import ReminderError, ReminderRefused
from relance.services.sending.mass import SelectionError
from relance.services.texts.placeholders import TemplateError

SERVICES = Path(__file__).resolve().parent.parent / "relance" / "services"
AREAS = ("admin", "api", "auth", "autorun", "customers", "errors", "imports", "invoices", "main", "reminders")


def _verdict() -> eligibility.Verdict:
    return eligibility.Verdict(invoice_id=1, rank=1, channel="email", proposed=None,
                               refusals=(eligibility.Refusal("paid", "The invoice is paid.", True),))


@pytest.mark.parametrize(("make", "field", "text"), [
    (lambda: ReminderError("channel", "No channel."), "channel", "No channel."),
    (lambda: ReminderRefused(_verdict()), "level", "The invoice is paid."),
    (lambda: AutoRunError("date", "Enter a date."), "date", "Enter a date."),
    (lambda: SelectionError("Nothing to send.", ["FA-1: no level"]), None, "Nothing to send."),
    (lambda: PdfUploadError("The file is empty."), "pdf", "The file is empty."),
    (lambda: PaymentError("amount", "Enter an amount."), "amount", "Enter an amount."),
    (lambda: LevelError({"rank": "Too big."}), None, "rank: Too big."),
    (lambda: TemplateError({"body": "Empty."}), None, "body: Empty."),
])
def test_service_errors_share_one_base(make, field, text):
    error = make()
    assert isinstance(error, RelanceError) and isinstance(error, ValueError)
    assert (error.field, str(error.message), str(error)) == (field, text, text)


def test_a_delay_error_keeps_its_lazy_message_and_the_text_refused(sqlite_app):
    with pytest.raises(RelanceError) as caught:
        parse_delay("soon")
    assert isinstance(caught.value, DelayError) and caught.value.text == "soon"
    assert str(caught.value) == str(caught.value.message) and "'soon' is not a delay" in str(caught.value)


def test_services_import_no_area_package():
    found = []
    for path in SERVICES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(SERVICES)}: {name}" for name in names
                      if name.split(".")[:2] in [["relance", area] for area in AREAS]]
    assert found == []
