"""The company settings: a frozen, typed CompanySettings with every default, what a manager saved read back with
its type."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from relance.extensions import db
from relance.services import settings as settings_service
from relance.services.settings import SPECS, CompanySettings


def test_every_setting_is_a_typed_field_with_its_default():
    assert set(SPECS) == {f.name for f in dataclasses.fields(CompanySettings)}
    defaults = CompanySettings()
    assert SPECS["min_amount"].type is Decimal and defaults.min_amount == Decimal("0.00")
    assert SPECS["auto_hour"].type is int and SPECS["copy_to_sales"].type is bool
    assert SPECS["indemnity_by_country"].type is dict and defaults.indemnity_by_country["FR"] == "40.00"
    assert CompanySettings().indemnity_by_country is not defaults.indemnity_by_country  # never shared
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.auto_hour = 9  # type: ignore[misc]


def test_load_gives_the_saved_values_typed_and_the_defaults(app):
    assert settings_service.load(db.session) == CompanySettings()
    settings_service.save(db.session, {"min_amount": Decimal("12.50"), "auto_hour": "9", "copy_to_sales": 1,
                                       "indemnity_by_country": {"FR": "40.00", "CH": "50.00 CHF"}})
    db.session.commit()
    loaded = settings_service.load(db.session)
    assert isinstance(loaded, CompanySettings)
    assert (loaded.min_amount, loaded.auto_hour, loaded.copy_to_sales) == (Decimal("12.50"), 9, True)
    assert loaded.indemnity_by_country == {"FR": "40.00", "CH": "50.00 CHF"}
    assert loaded.company_name == CompanySettings().company_name
    assert loaded.as_dict()["min_amount"] == Decimal("12.50")
    with pytest.raises(KeyError):
        settings_service.save(db.session, {"no_such_setting": 1})
