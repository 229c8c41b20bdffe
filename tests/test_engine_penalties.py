"""Penalties, statutory late interest (the published examples) and the recovery indemnity."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.extensions import db
from relance.models import Payment, ReminderLevel, paid_state
from relance.services import settings as settings_service
from relance.services.defaults import FRENCH_B2B_RATES
from relance.services.engine.penalties import (
    RateTable,
    claim_for_invoice,
    compute_claim,
    level_penalty,
    load_rates,
    recovery_indemnity,
    statutory_interest,
)
from tests.factories import install_live_defaults, make_customer, make_invoice

D = Decimal
FR = RateTable([(start, D(rate)) for start, rate in FRENCH_B2B_RATES])


class FakeSettings:
    """Plain values standing for settings.load() in pure computations."""

    def __init__(self, **values):
        self.statutory_interest = values.get("statutory_interest", True)
        self.indemnity_by_country = values.get("indemnity_by_country", {"FR": "40.00"})
        self.company_country = values.get("company_country", "FR")


def pay(invoice, amount, on):
    """A payment on an invoice already flushed (the triggers keep amount_paid = sum of payments)."""
    invoice.payments.append(Payment(date=on, amount=D(amount)))
    db.session.flush()
    db.session.expire(invoice, paid_state.DERIVED)


def test_published_example_a_47_days_18_77():
    result = statutory_interest(D("1200.00"), [(date(2026, 3, 3), D("1200.00"))], date(2026, 1, 15),
                                date(2026, 3, 3), FR)
    assert (result.amount, result.days) == (D("18.77"), 47)
    assert [(p.days, p.rate) for p in result.periods] == [(47, D("12.15"))]
    # the date of the question does not matter once the invoice is paid
    later = statutory_interest(D("1200.00"), [(date(2026, 3, 3), D("1200.00"))], date(2026, 1, 15),
                               date(2026, 6, 30), FR)
    assert (later.amount, later.days) == (D("18.77"), 47)


def test_published_example_b_split_across_1_july_19_43():
    result = statutory_interest(D("1200.00"), [(date(2025, 7, 27), D("1200.00"))], date(2025, 6, 10),
                                date(2025, 7, 27), FR)
    assert result.amount == D("19.43")
    assert [(p.start, p.end, p.days, p.rate) for p in result.periods] == [
        (date(2025, 6, 11), date(2025, 6, 30), 20, D("13.15")),
        (date(2025, 7, 1), date(2025, 7, 27), 27, D("12.15")),
    ]


def test_partial_payment_lowers_the_base_after_its_date():
    result = statutory_interest(D("1200.00"), [(date(2026, 2, 4), D("600.00"))], date(2026, 1, 15),
                                date(2026, 3, 3), FR)
    # 1200 for 20 days (16 Jan - 4 Feb), then 600 for 27 days
    expected = (D("1200") * D("12.15") * 20 + D("600") * D("12.15") * 27) / D(36500)
    assert result.amount == expected.quantize(D("0.01"))
    assert [(p.base, p.days) for p in result.periods] == [(D("1200.00"), 20), (D("600.00"), 27)]


def test_payment_before_due_date_is_never_late_and_rounding_is_half_up_once():
    result = statutory_interest(D("1000.00"), [(date(2026, 1, 10), D("900.00"))], date(2026, 1, 15),
                                date(2026, 1, 16), FR)
    # 100 x 12.15 % x 1 / 365 = 0.0333 -> 0.03
    assert result.amount == D("0.03")
    assert statutory_interest(D("1200"), [], date(2026, 1, 15), date(2026, 1, 15), FR).amount == D("0.00")


def test_rate_table_gap_gives_no_amount_and_says_so():
    result = statutory_interest(D("1200.00"), [], date(2023, 11, 30), date(2024, 2, 1), FR)
    assert result.amount is None and result.missing_from == date(2023, 7, 1)
    claim = compute_claim(total=D("1200.00"), amount_paid=D("0"), payments=[], due_date=date(2023, 11, 30),
                          on=date(2024, 2, 1), customer_kind="business", penalty_kind="none", penalty_value=D("0"),
                          settings=FakeSettings(), rates={"b2b": FR})
    assert claim.interest is None
    assert claim.total_claimed == D("1240.00")  # principal + indemnity, no invented interest
    assert "2023-07-01" in claim.reasons[0] and "rate" in claim.reasons[0]


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 6, 1)), st.integers(1, 700),
       st.integers(100, 10_000_000))
def test_interest_equals_the_sum_over_its_half_years(due, days, cents):
    total = D(cents) / 100
    on = due + timedelta(days=days)
    result = statutory_interest(total, [], due, on, FR)
    assert sum(p.days for p in result.periods) == result.days == days
    exact = sum(total * p.rate * p.days for p in result.periods) / D(36500)
    assert abs(result.amount - exact) <= D("0.005")
    for period in result.periods:
        assert period.start.month in (1, 7) or period.start == due + timedelta(days=1)


def test_level_penalty_fixed_percent_none():
    assert level_penalty("fixed", D("15"), D("1200.00")) == D("15.00")
    assert level_penalty("percent", D("1.5"), D("1234.55")) == D("18.52")  # 18.51825 -> half-up
    assert level_penalty("none", D("99"), D("1200.00")) == D("0.00")


def test_indemnity_business_only_and_per_country():
    table = {"FR": "40.00", "GB": "70.00"}
    assert recovery_indemnity(table, "FR", "business", 3) == D("40.00")
    assert recovery_indemnity(table, "GB", "business", 3) == D("70.00")
    assert recovery_indemnity(table, "FR", "consumer", 3) == D("0.00")
    assert recovery_indemnity(table, "FR", "business", 0) == D("0.00")
    assert recovery_indemnity(table, "US", "business", 3) == D("0.00")


def test_consumer_gets_interest_only_from_the_formal_notice_at_the_consumer_rate():
    rates = {"b2b": FR, "consumer": RateTable([(date(2026, 1, 1), D("2.62"))])}
    common = dict(total=D("1000.00"), amount_paid=D("0"), payments=[], due_date=date(2026, 1, 15),
                  on=date(2026, 3, 16), customer_kind="consumer", penalty_kind="none", penalty_value=D("0"),
                  settings=FakeSettings(), rates=rates)
    without_notice = compute_claim(**common)
    assert (without_notice.interest, without_notice.indemnity) == (D("0.00"), D("0.00"))
    with_notice = compute_claim(**common, notice_date=date(2026, 2, 14))
    # 30 days (15 Feb - 16 Mar) x 2.62 %
    assert with_notice.interest == (D("1000") * D("2.62") * 30 / D(36500)).quantize(D("0.01"))
    no_consumer_rate = compute_claim(**{**common, "rates": {"b2b": FR}}, notice_date=date(2026, 2, 14))
    assert no_consumer_rate.interest == D("0.00")


def test_interest_off_by_setting():
    claim = compute_claim(total=D("1200.00"), amount_paid=D("200.00"), payments=[(date(2026, 1, 1), D("200.00"))],
                          due_date=date(2026, 1, 15), on=date(2026, 3, 3), customer_kind="business",
                          penalty_kind="fixed", penalty_value=D("25"), settings=FakeSettings(statutory_interest=False),
                          rates={"b2b": FR})
    assert (claim.remaining_due, claim.penalty, claim.interest, claim.indemnity, claim.total_claimed) == (
        D("1000.00"), D("25.00"), D("0.00"), D("40.00"), D("1065.00"))


def test_claim_for_an_invoice_row_uses_the_seeded_rate_table(app):
    install_live_defaults(db.session)
    customer = make_customer(kind="business")
    invoice = make_invoice(customer, total="1200.00", due=date(2026, 1, 15))
    pay(invoice, "1200.00", date(2026, 3, 3))
    level = db.session.query(ReminderLevel).filter_by(rank=2).one()
    level.penalty_kind, level.penalty_value = "percent", D("5")
    settings = settings_service.load(db.session)
    assert load_rates(db.session, "FR")["b2b"].rate_on(date(2025, 8, 1)) == D("12.15")
    claim = claim_for_invoice(db.session, invoice, level, date(2026, 3, 3), settings)
    assert (claim.interest, claim.indemnity, claim.penalty, claim.days_late) == (D("18.77"), D("40.00"),
                                                                                  D("60.00"), 47)


@pytest.mark.parametrize("kind", ["b2b", "consumer"])
def test_seeded_rates_are_the_french_ones(app, kind):
    install_live_defaults(db.session)
    table = load_rates(db.session, "FR")[kind]
    if kind == "b2b":
        days = [date(2024, 2, 1), date(2024, 8, 1), date(2025, 3, 1), date(2025, 9, 1), date(2026, 1, 2)]
        assert [table.for_half_year(d) for d in days] == [D("14.50"), D("14.25"), D("13.15"), D("12.15"), D("12.15")]
    else:
        assert table.rate_on(date(2026, 2, 1)) == D("2.62")
