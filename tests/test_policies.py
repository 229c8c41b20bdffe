"""Reminder policies as a person manages and chooses them (issue 21): the levels editor one policy at a time, a
policy created empty or as a copy (levels and texts identical, independent afterwards), renamed, made the default,
deleted; the choice of a customer's policy in the customer form, the CSV import and the API; the texts editor and
the readiness messages naming the policy once there are several."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Customer, Policy, Reminder, ReminderLevel, Template, TemplateVersion
from relance.services import policies
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.reading import plan_csv
from relance.services.defaults import install_defaults
from relance.services.engine import readiness, schedule
from relance.services.engine.levels import customer_levels
from relance.services.texts import wording
from tests.factories import make_customer, make_invoice, make_user
from tests.test_admin_levels import form_of

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True).replace("&#34;", '"').replace("&#39;", "'")


@pytest.fixture(autouse=True)
def english(client):
    """Messages in English (the locale otherwise falls back to French)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def standard(app):
    """The default policy with the default levels and their texts (level 1's English email edited once)."""
    install_defaults(db.session)
    wording.install_default_texts(db.session)
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    wording.save_template(db.session, level, "email", "en", "Invoice __REF_FACTURE__", "Please pay.")
    db.session.commit()
    return db.session.scalar(select(Policy).where(Policy.is_default))


def levels_of(policy: Policy) -> list[ReminderLevel]:
    return list(db.session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == policy.id)
                                   .order_by(ReminderLevel.rank)))


def level_values(level: ReminderLevel) -> dict:
    return {key: getattr(level, key) for key in policies.LEVEL_COPIED}


def texts_of(level: ReminderLevel) -> dict:
    return {(t.channel, t.language): (t.subject, t.body) for t in db.session.scalars(
        select(Template).where(Template.level_id == level.id))}


def audit_rows(entity: str = "policy") -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.entity == entity).order_by(AuditLog.id)))


def copy_standard(client, standard, name="Short") -> Policy:
    response = client.post("/admin/policies/new", data={"name": name, "source": str(standard.id),
                                                         "policy": str(standard.id)})
    assert response.status_code == 302, text(response)[:2000]
    db.session.expire_all()
    made = db.session.scalar(select(Policy).where(Policy.name == name))
    assert response.headers["Location"].endswith(f"/admin/levels?policy={made.id}")
    return made


# --- the policies -------------------------------------------------------------------------------------------

def test_a_copy_has_the_same_levels_and_texts_and_lives_on_its_own(client, auth, standard):
    auth.login("manager")
    short = copy_standard(client, standard)
    originals, copies = levels_of(standard), levels_of(short)
    assert [level_values(c) for c in copies] == [level_values(o) for o in originals]
    assert {c.id for c in copies}.isdisjoint({o.id for o in originals})
    for original, copy in zip(originals, copies, strict=True):
        assert texts_of(copy) == texts_of(original) and texts_of(copy)
    # each copied text starts its own history at version 1 (the source's versions stay with the source)
    copied_first = next(c for c in copies if c.rank == 1)
    edited = db.session.scalar(select(Template).where(Template.level_id == copied_first.id,
                                                      Template.channel == "email", Template.language == "en"))
    assert (edited.subject, edited.version) == ("Invoice __REF_FACTURE__", 1)
    assert [(v.version, v.body) for v in edited.versions] == [(1, "Please pay.")]
    assert not db.session.get(Policy, short.id).is_default
    row = audit_rows()[-1]
    assert (row.action, row.after["name"], row.after["copy_of"], row.after["levels"]) == (
        "create", "Short", "Standard", len(originals))
    assert row.after["texts"] == sum(len(texts_of(o)) for o in originals)
    # independent afterwards: a change to the copy leaves the original as it was
    second = next(c for c in copies if c.rank == 2)
    response = client.post(f"/admin/levels/{second.id}", data={**form_of(second), "delay": "+10 days"}, headers=HTMX)
    assert response.status_code == 200
    wording.save_template(db.session, second, "email", "en", "Short subject", "Short body.")
    db.session.commit()
    db.session.expire_all()
    original_second = next(o for o in levels_of(standard) if o.rank == 2)
    assert original_second.delay == "+30 days" and db.session.get(ReminderLevel, second.id).delay == "+10 days"
    assert texts_of(original_second)[("email", "en")] != ("Short subject", "Short body.")


def test_the_copied_texts_are_the_copier_s(app, standard):
    user = make_user(role="manager")
    short = policies.create(db.session, "Short", user, source=standard)
    db.session.commit()
    authors = set(db.session.scalars(select(Template.updated_by_id).join(ReminderLevel)
                                     .where(ReminderLevel.policy_id == short.id)))
    versions = set(db.session.scalars(select(TemplateVersion.user_id).join(Template).join(ReminderLevel)
                                      .where(ReminderLevel.policy_id == short.id)))
    assert authors == versions == {user.id}


def test_the_page_copies_the_shown_policy_by_default_and_can_make_an_empty_one(client, auth, standard):
    auth.login("manager")
    page = text(client.get("/admin/levels"))
    assert f'<option value="{standard.id}" selected>A copy of Standard</option>' in page
    assert '<option value="" >None: an empty policy</option>' in page or 'value="" >' in page
    response = client.post("/admin/policies/new", data={"name": "Gentle", "source": "", "policy": str(standard.id)})
    assert response.status_code == 302
    gentle = db.session.scalar(select(Policy).where(Policy.name == "Gentle"))
    assert levels_of(gentle) == []
    page = text(client.get(response.headers["Location"]))
    assert "Policy Gentle created without levels" in page
    assert "This policy has no level yet: its customers get no reminder." in page
    assert 'aria-current="page">Gentle' in page
    # its first level is rank 1 of its own, with the default texts
    data = {**NEW_LEVEL, "policy": str(gentle.id)}
    assert client.post("/admin/levels/new", data=data).headers["Location"].endswith(f"?policy={gentle.id}")
    (level,) = levels_of(gentle)
    assert level.rank == 1 and len(texts_of(level)) == 2 * 6


BAD_NAMES = [
    ("", "The policy name is required."),
    ("   ", "The policy name is required."),
    ("x" * 81, "The policy name is too long: 81 characters, at most 80."),
    ("sTaNdArD", 'The policy name "sTaNdArD" is taken: another policy is called "Standard".'),
    (" Standard ", 'The policy name "Standard" is taken'),
    ("Short\tlist", "The policy name must be one line, without control characters."),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES, ids=[repr(n[:12]) for n, _m in BAD_NAMES])
def test_a_bad_name_is_refused_naming_the_field_and_nothing_is_saved(client, auth, standard, name, message):
    auth.login("manager")
    before = {model: db.session.scalar(select(func.count()).select_from(model))
              for model in (Policy, ReminderLevel, Template, AuditLog)}
    response = client.post("/admin/policies/new", data={"name": name, "source": str(standard.id),
                                                         "policy": str(standard.id)})
    assert response.status_code == 422
    assert message in text(response)
    assert 'class="field has-error"' in text(response)
    after = {model: db.session.scalar(select(func.count()).select_from(model)) for model in before}
    assert after == before
    # the rename form says the same
    response = client.post(f"/admin/policies/{copy_standard(client, standard, 'Other').id}/rename",
                           data={"name": name})
    assert response.status_code == 422 and message in text(response)
    assert db.session.scalar(select(func.count()).select_from(Policy).where(Policy.name == "Other")) == 1


def test_rename(client, auth, standard):
    auth.login("manager")
    short = copy_standard(client, standard)
    response = client.post(f"/admin/policies/{short.id}/rename", data={"name": "  Quick  "})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"?policy={short.id}")
    db.session.expire_all()
    assert db.session.get(Policy, short.id).name == "Quick"
    assert audit_rows()[-1].before == {"name": "Short"} and audit_rows()[-1].after == {"name": "Quick"}
    # its own name in another case is no clash; the same name changes nothing
    assert client.post(f"/admin/policies/{short.id}/rename", data={"name": "QUICK"}).status_code == 302
    assert db.session.get(Policy, short.id).name == "QUICK"
    rows = len(audit_rows())
    response = client.post(f"/admin/policies/{short.id}/rename", data={"name": "QUICK"}, follow_redirects=True)
    assert "Nothing was changed." in text(response) and len(audit_rows()) == rows


def test_make_default_moves_the_customers_without_a_policy_of_their_own(client, auth, standard):
    auth.login("manager")
    short = copy_standard(client, standard)
    gentle = copy_standard(client, standard, "Gentle")
    plain, on_short, on_gentle = make_customer(), make_customer(policy_id=short.id), make_customer(policy_id=gentle.id)
    db.session.commit()
    page = text(client.get(f"/admin/levels?policy={short.id}"))
    assert ("Make Short the default policy? The 1 customer without a policy of their own will follow it instead of "
            "Standard.") in page
    assert client.post(f"/admin/policies/{short.id}/default").status_code == 302
    db.session.expire_all()
    assert [p.name for p in db.session.scalars(select(Policy).where(Policy.is_default))] == ["Short"]
    assert (plain.policy_id, on_short.policy_id, on_gentle.policy_id) == (None, None, gentle.id)
    assert {level.policy_id for level in customer_levels(db.session, plain)} == {short.id}
    assert {level.policy_id for level in customer_levels(db.session, on_gentle)} == {gentle.id}
    changes = [(row.entity_id, row.after) for row in audit_rows()[-2:]]
    assert changes == [(str(standard.id), {"is_default": False}), (str(short.id), {"is_default": True})]
    page = text(client.get(f"/admin/levels?policy={short.id}"))
    assert "Short is now the default policy." in page and "Make it the default policy" not in page
    assert "Delete this policy" not in page  # the default policy is never deleted


def test_delete_moves_the_customers_to_the_default_and_keeps_the_reminders(client, auth, standard):
    auth.login("manager")
    short = copy_standard(client, standard)
    customer = make_customer(policy_id=short.id)
    invoice = make_invoice(customer, due=date(2026, 1, 15))
    short_first = next(level for level in levels_of(short) if level.rank == 1)
    reminder = Reminder(key="r-1", invoice_id=invoice.id, level=1, channel="email", status="sent",
                        reminder_date=date(2026, 2, 1))
    db.session.add(reminder)
    db.session.commit()
    assert reminder.level_id == short_first.id  # the level of its rank in its customer's policy
    page = text(client.get(f"/admin/levels?policy={short.id}"))
    assert ("Delete the policy Short with its levels and texts? Its 1 customer will follow the default policy "
            "Standard.") in page
    ids = [level.id for level in levels_of(short)]
    response = client.post(f"/admin/policies/{short.id}/delete", follow_redirects=True)
    assert "Policy Short deleted: 1 customer now follows the default policy Standard." in text(response)
    db.session.expire_all()
    assert db.session.get(Policy, short.id) is None and db.session.get(Customer, customer.id).policy_id is None
    assert db.session.scalar(select(func.count()).select_from(ReminderLevel).where(ReminderLevel.id.in_(ids))) == 0
    assert db.session.scalar(select(func.count()).select_from(Template).where(Template.level_id.in_(ids))) == 0
    kept = db.session.get(Reminder, reminder.id)
    assert (kept.level_id, kept.level, kept.level_name("en")) == (None, 1, "First reminder")
    row = audit_rows()[-1]
    assert (row.action, row.before["name"], row.before["customers"]) == ("delete", "Short", [customer.code])
    # the default policy's levels and texts are untouched
    assert len(levels_of(standard)) == 4 and db.session.scalar(select(func.count()).select_from(TemplateVersion))


def test_the_default_policy_is_never_deleted(client, auth, standard):
    auth.login("manager")
    response = client.post(f"/admin/policies/{standard.id}/delete", follow_redirects=True)
    assert "The default policy cannot be deleted: make another policy the default first." in text(response)
    db.session.expire_all()
    assert db.session.get(Policy, standard.id) is not None and len(levels_of(standard)) == 4
    assert audit_rows() == []
    with pytest.raises(policies.PolicyError):
        policies.delete(db.session, standard, None)


def test_policy_actions_are_for_managers_and_need_an_existing_policy(client, auth, standard):
    auth.login("agent")
    for path in ("/admin/policies/new", f"/admin/policies/{standard.id}/rename",
                 f"/admin/policies/{standard.id}/default", f"/admin/policies/{standard.id}/delete"):
        assert client.post(path, data={"name": "X"}).status_code == 403, path
    auth.logout()
    auth.login("manager")
    for path in ("/admin/policies/999/rename", "/admin/policies/999/default", "/admin/policies/999/delete"):
        assert client.post(path, data={"name": "X"}).status_code == 404, path
    assert client.post("/admin/policies/new", data={"name": "X", "source": "999"}).status_code == 404
    assert client.get("/admin/levels?policy=999").status_code == 404
    assert client.get("/admin/levels?policy=abc").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Policy)) == 1


# --- the levels editor, one policy at a time ----------------------------------------------------------------

NEW_LEVEL = {"name_fr": "Dernier avis", "name_en": "Last notice", "delay": "+15 days", "basis": "previous",
             "channels": "letter", "penalty_kind": "none", "penalty_value": "0", "active": "y"}


def test_the_editor_shows_and_changes_one_policy_at_a_time(client, auth, standard):
    auth.login("manager")
    short = copy_standard(client, standard)
    short_levels, standard_levels = levels_of(short), levels_of(standard)
    page = text(client.get("/admin/levels"))  # the default policy without ?policy=
    assert 'aria-current="page">Standard' in page and f'id="level-{standard_levels[0].id}"' in page
    assert f'id="level-{short_levels[0].id}"' not in page
    assert f'href="/admin/levels?policy={short.id}"' in page
    page = text(client.get(f"/admin/levels?policy={short.id}"))
    assert 'aria-current="page">Short' in page and f'id="level-{short_levels[0].id}"' in page
    assert f'id="level-{standard_levels[0].id}"' not in page
    assert f'<input type="hidden" name="policy" value="{short.id}">' in page
    # a new level of Short: the next rank of Short, the default policy unchanged
    drop = next(level for level in short_levels if level.rank == 3)
    client.post(f"/admin/levels/{drop.id}", data=form_of(drop, active=None))
    response = client.post("/admin/levels/new", data={**NEW_LEVEL, "policy": str(short.id)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/levels?policy={short.id}")
    db.session.expire_all()
    assert [level.rank for level in levels_of(short)] == [0, 1, 2, 3, 4]
    assert [level.rank for level in levels_of(standard)] == [0, 1, 2, 3]
    # a plain (no JavaScript) save and a move come back to the level's policy
    second = next(level for level in levels_of(short) if level.rank == 2)
    response = client.post(f"/admin/levels/{second.id}", data=form_of(second, delay="+20 days"))
    assert response.headers["Location"].endswith(f"/admin/levels?policy={short.id}")
    third = next(level for level in levels_of(short) if level.rank == 3)
    response = client.post(f"/admin/levels/{third.id}/move/down")
    assert response.headers["Location"].endswith(f"/admin/levels?policy={short.id}")
    response = client.post(f"/admin/levels/{third.id}/move/up", headers=HTMX)
    assert response.status_code == 200 and f'id="level-{third.id}"' in text(response)
    assert f'id="level-{standard_levels[0].id}"' not in text(response)
    db.session.expire_all()
    assert [level.rank for level in levels_of(standard)] == [0, 1, 2, 3]
    # a refused new level shows Short again with the errors
    response = client.post("/admin/levels/new", data={**NEW_LEVEL, "delay": "soon", "policy": str(short.id)})
    assert response.status_code == 422 and 'aria-current="page">Short' in text(response)


def test_the_texts_editor_and_readiness_name_the_policy_once_there_are_several(client, auth, standard):
    auth.login("manager")
    page = text(client.get("/admin/templates"))
    assert "Policy Standard" not in page
    short = copy_standard(client, standard)
    page = text(client.get("/admin/templates"))
    assert page.index('scope="rowgroup">Policy Standard') < page.index('scope="rowgroup">Policy Short')
    first = next(level for level in levels_of(short) if level.rank == 1)
    page = text(client.get(f"/admin/templates/{first.id}/email/en"))
    assert "<h1>Short · Level 1 · First reminder" in page
    make_customer(language="pt")
    db.session.commit()
    with client.application.test_request_context(headers={"Accept-Language": "en"}):
        messages = readiness.check(db.session).messages()
    assert any("Level 1 (Short · First reminder) has no email text in Portuguese" in m for m in messages)
    assert any("Level 1 (Standard · First reminder) has no email text in Portuguese" in m for m in messages)


def test_explain_follows_the_policy_copied_and_says_it(app, standard):
    short = policies.create(db.session, "Short", None, source=standard)
    second = next(level for level in levels_of(short) if level.rank == 2)
    second.delay = "+10 days"
    customer = make_customer(policy_id=short.id)
    other = make_customer()
    invoice, same = make_invoice(customer, due=date(2026, 1, 15)), make_invoice(other, due=date(2026, 1, 15))
    for key, target in (("a", invoice), ("b", same)):
        db.session.add(Reminder(key=key, invoice_id=target.id, level=1, channel="email", status="sent",
                                reminder_date=date(2026, 1, 30)))
    db.session.commit()
    lines = str(schedule.explain(db.session, invoice, date(2026, 1, 31), automatic=False, language="en"))
    assert "Reminder policy: Short." in lines  # the level named in the company's language (French by default)
    assert "Next level: 2 (Deuxième relance), +10 days from the due date = 2026-01-25." in lines
    lines = str(schedule.explain(db.session, same, date(2026, 1, 31), automatic=False, language="en"))
    assert "Reminder policy: Standard." in lines
    assert "Next level: 2 (Deuxième relance), +30 days from the due date = 2026-02-14." in lines


# --- a customer's choice ------------------------------------------------------------------------------------

CUSTOMER = {"code": "ACME", "name": "Acme", "country": "FR", "language": "fr", "kind": "business", "email": ""}


def test_the_customer_form_chooses_the_policy(client, auth, standard):
    short = policies.create(db.session, "Short", None, source=standard)
    customer = make_customer(code="ACME", name="Acme")
    db.session.commit()
    auth.login("agent")
    page = text(client.get(f"/customers/{customer.id}"))
    assert "Reminder policy" in page
    assert '<option selected value="">Standard (default)</option>' in page
    assert f'<option value="{short.id}">Short</option>' in page
    response = client.post(f"/customers/{customer.id}/edit", data={**CUSTOMER, "reminder_policy": str(short.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).policy_id == short.id
    page = text(client.get(f"/customers/{customer.id}"))
    assert "Reminder policy: Short" in page and f'<option selected value="{short.id}">Short</option>' in page
    row = audit_rows("customer")[-1]
    assert (row.before["policy"], row.after["policy"]) == ("Standard", "Short")
    # a viewer reads it
    auth.logout()
    auth.login("viewer")
    page = text(client.get(f"/customers/{customer.id}"))
    assert "<dt>Reminder policy</dt><dd>Short</dd>" in page
    auth.logout()
    auth.login("agent")
    # the default: stored as no policy of its own; a field not posted keeps the choice
    assert client.post(f"/customers/{customer.id}/edit", data={**CUSTOMER, "reminder_policy": ""}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).policy_id is None
    client.post(f"/customers/{customer.id}/edit", data={**CUSTOMER, "reminder_policy": str(short.id)})
    assert client.post(f"/customers/{customer.id}/edit", data=CUSTOMER).status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).policy_id == short.id
    # an id that is not a policy: refused, nothing saved
    for bad in ("999", "abc", str(standard.id)):
        response = client.post(f"/customers/{customer.id}/edit",
                               data={**CUSTOMER, "name": "Changed", "reminder_policy": bad})
        assert response.status_code == 422 and "Not a valid choice." in text(response), bad
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == "Acme"
    # a new customer
    response = client.post("/customers/new", data={**CUSTOMER, "code": "NEW", "reminder_policy": str(short.id)})
    assert response.status_code == 302
    assert db.session.scalar(select(Customer.policy_id).where(Customer.code == "NEW")) == short.id


def test_with_one_policy_the_form_shows_no_choice(client, auth, standard):
    customer = make_customer()
    db.session.commit()
    auth.login("agent")
    page = text(client.get(f"/customers/{customer.id}"))
    assert 'name="reminder_policy"' not in page and "Reminder policy:" not in page


def test_the_customer_list_filters_by_policy(client, auth, standard):
    short = policies.create(db.session, "Short", None, source=standard)
    make_customer(name="On short", policy_id=short.id)
    make_customer(name="Chose none")
    make_customer(name="Chose standard", policy_id=standard.id)
    db.session.commit()
    auth.login("viewer")
    page = text(client.get("/customers/"))
    assert 'name="policy"' in page and "All policies" in page
    page = text(client.get(f"/customers/?policy={short.id}", headers=HTMX))
    assert "On short" in page and "Chose none" not in page
    page = text(client.get(f"/customers/?policy={standard.id}", headers=HTMX))
    assert "On short" not in page and "Chose none" in page and "Chose standard" in page


# --- the CSV import and the API ----------------------------------------------------------------------------

def import_customers(csv: str):
    plan = plan_csv(db.session, "customers", csv.encode(), date(2026, 3, 15), filename="c.csv")
    if plan.ok:
        apply_plan(db.session, plan)
        db.session.commit()
    db.session.expire_all()
    return plan


def chosen() -> dict:
    return dict(db.session.execute(select(Customer.code, Customer.policy_id)).all())


def test_the_csv_import_names_the_policy(app, standard):
    short = policies.create(db.session, "Short", None, source=standard)
    db.session.commit()
    plan = import_customers("code;nom;politique_relance\nA;Alpha;short\nB;Beta;\nC;Gamma;STANDARD\n")
    assert plan.ok, [str(e) for e in plan.errors]
    assert chosen() == {"A": short.id, "B": None, "C": None}
    # the preview speaks in names; a row naming what it already follows is unchanged
    plan = import_customers("code;nom;policy\nA;Alpha;Standard\nB;Beta;Short\nC;Gamma;\n")
    assert [(c.action, c.changes) for c in plan.changes] == [
        ("update", {"policy": ("Short", "Standard")}), ("update", {"policy": ("Standard", "Short")}),
        ("unchanged", {})]
    assert chosen() == {"A": None, "B": short.id, "C": None}
    # a file without the column leaves the choice alone
    assert import_customers("code;nom\nB;Beta\nD;Delta\n").ok
    assert chosen() == {"A": None, "B": short.id, "C": None, "D": None}


def test_an_unknown_policy_in_the_csv_import_is_a_row_error_and_nothing_is_saved(app, standard):
    policies.create(db.session, "Short", None, source=standard)
    db.session.commit()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        plan = import_customers("code;nom;politique_relance\nA;Alpha;Short\nB;Beta;Long\n")
        assert not plan.ok
        (error,) = plan.errors
        assert (error.line, error.column, error.field) == (3, "politique_relance", "policy")
        assert str(error) == ('line 3, column politique_relance: No reminder policy is called "Long": use one of '
                              'Standard, Short, or leave the cell empty for the default policy.')
    assert chosen() == {}


def test_a_policy_renamed_between_the_check_and_the_confirmation_changes_the_basis(app, standard):
    from relance.services.data_in.plan import basis

    short = policies.create(db.session, "Short", None, source=standard)
    db.session.commit()
    plan = plan_csv(db.session, "customers", b"code;nom;policy\nA;Alpha;Short\n", date(2026, 3, 15))
    assert plan.ok and basis(db.session, plan) == plan.basis
    policies.rename(db.session, short, "Quick", None)
    db.session.commit()
    assert basis(db.session, plan) != plan.basis


def test_the_api_reads_and_writes_the_policy(client, standard):
    from tests.test_api import token_for

    short = policies.create(db.session, "Short", None, source=standard)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    response = client.put("/api/v1/customers/A", headers=headers, json={"name": "Alpha", "policy": "SHORT"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["policy"] == "Short" and chosen() == {"A": short.id}
    response = client.put("/api/v1/customers/A", headers=headers, json={"name": "Alpha"})  # left out: kept
    assert response.get_json()["policy"] == "Short"
    for sent in (None, "", "standard"):
        client.put("/api/v1/customers/A", headers=headers, json={"name": "Alpha", "policy": "Short"})
        response = client.put("/api/v1/customers/A", headers=headers, json={"name": "Alpha", "policy": sent})
        assert response.status_code == 200 and response.get_json()["policy"] == "Standard", sent
        db.session.expire_all()
        assert chosen() == {"A": None}, sent
    assert client.get("/api/v1/customers", headers=headers).get_json()["items"][0]["policy"] == "Standard"
    bad = [("Long", 'No reminder policy is called "Long": use one of Standard, Short'),
           ("x" * 81, "Too long: 81 characters, at most 80."), (3, "Must be a string / null.")]
    for sent, message in bad:
        response = client.put("/api/v1/customers/A", headers=headers, json={"name": "Renamed", "policy": sent})
        assert response.status_code == 422, sent
        (problem,) = response.get_json()["error"]["fields"]
        assert problem["path"] == "policy" and message in problem["message"], problem
    response = client.post("/api/v1/customers", headers=headers, json={"items": [
        {"code": "B", "name": "Beta", "policy": "Short"}, {"code": "C", "name": "Gamma", "policy": "Nope"}]})
    assert response.status_code == 422
    assert [f["path"] for f in response.get_json()["error"]["fields"]] == ["items[1].policy"]
    db.session.expire_all()
    assert chosen() == {"A": None}
    assert db.session.scalar(select(Customer.name).where(Customer.code == "A")) == "Alpha"
