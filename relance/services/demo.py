"""Demo data: a company, one user per role, ~40 customers and ~300 invoices around a given day."""

from __future__ import annotations

import random
import secrets
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relance.models import ROLES, Contact, Customer, Invoice, Payment, ReminderLevel, User
from relance.services import golive, policies
from relance.services import settings as settings_service
from relance.services.defaults import SUGGESTED_AUTOMATIC, install_defaults

FR_COMPANIES = [
    "Boulangerie Martin", "Garage Dubois", "Menuiserie Lefèvre", "Cabinet Moreau", "Imprimerie Laurent",
    "Pharmacie Girard", "Transports Bonnet", "Fromagerie Dupont", "Atelier Lambert", "Plomberie Fontaine",
    "Électricité Rousseau", "Librairie Vincent", "Hôtel du Parc", "Restaurant Le Muret", "SARL Chevalier",
    "Ferme des Saules", "Agence Mercier", "Domaine Blanc", "Clinique Véto Roux", "Studio Fournier",
    "Bâtiment Morel", "Éditions Gauthier",
]
EN_COMPANIES = [
    "Harper & Sons Ltd", "Blue Finch Design", "Northwind Traders", "Oakridge Consulting", "Redwood Logistics",
    "Silverline Media", "Kingsley Bakery", "Thames Print Co", "Brightwater Labs", "Cobalt Software",
]
FR_PEOPLE = [("Durand", "Claire"), ("Petit", "Luc"), ("Leroy", "Sophie"), ("Garnier", "Hugo"),
             ("Faure", "Manon"), ("André", "Julien")]
EN_PEOPLE = [("Smith", "Emma"), ("Jones", "Oliver"), ("Taylor", "Amelia"), ("Brown", "Jack")]
FR_CITIES = [("12 rue de la République", "69002", "Lyon"), ("5 avenue Jean Jaurès", "31000", "Toulouse"),
             ("48 boulevard Victor Hugo", "06000", "Nice"), ("3 place du Marché", "44000", "Nantes"),
             ("27 rue Nationale", "59000", "Lille"), ("9 quai des Chartrons", "33000", "Bordeaux")]
EN_CITIES = [("14 King Street", "M2 4LQ", "Manchester"), ("221 Baker Street", "NW1 6XE", "London"),
             ("8 Queen's Road", "BS8 1QU", "Bristol")]


class DemoRefused(Exception):
    pass


def _cents(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def database_is_empty(session: Session) -> bool:
    return not any(
        session.scalar(select(func.count()).select_from(model)) for model in (User, Customer, Invoice)
    )


def create_demo(session: Session, today: date, seed: int = 2026) -> dict[str, str]:
    """Fill an empty database; returns {email: password} of the demo users (printed once)."""
    if not database_is_empty(session):
        raise DemoRefused("the database already holds users, customers or invoices")
    rng = random.Random(seed)
    install_defaults(session)
    settings_service.save(session, {
        "company_name": "Atelier Durand SAS",
        "company_address": "18 rue des Lilas",
        "company_postcode": "75011",
        "company_city": "Paris",
        "company_email": "compta@atelier-durand.example",
        "company_phone": "01 23 45 67 89",
        "company_iban": "FR76 3000 6000 0112 3456 7890 189",
        "company_bic": "AGRIFRPP",
        "company_legal": "SAS au capital de 50 000 € — RCS Paris",
        "payment_url_pattern": "https://pay.atelier-durand.example/{number}",
        "group_by_customer": True,  # a customer with several invoices due gets one email (Redwood Logistics: ten)
    })
    # the demo goes live on its own today (so `make run` shows a working app) without flooding: the invoices
    # already overdue today are left for a person to decide, and the automatic runs send from today on
    choice = golive.clean(session, {
        "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
        "company_city": "Paris", "company_siren": "732829320", "company_vat": "FR44732829320",
        "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "AGRIFRPP",
        "sender_email": "compta@atelier-durand.example", "auto_hour": "10",
        "automatic": list(SUGGESTED_AUTOMATIC), "go_live_date": today.isoformat()}, today)
    golive.confirm(session, choice, today, None, start=today)  # no one to show a dry run to
    passwords: dict[str, str] = {}
    users = []
    for role in ROLES:
        email = f"{role}@relance.example"
        password = secrets.token_urlsafe(9)
        user = User(email=email, name=role.capitalize() + " Demo", role=role, language=None,
                    signature=f"{role.capitalize()} Demo\nService comptabilité")
        user.set_password(password)
        session.add(user)
        users.append(user)
        passwords[email] = password
    agents = [u for u in users if u.role in ("agent", "manager")]

    customers = []
    names = [(n, "fr") for n in FR_COMPANIES] + [(n, "en") for n in EN_COMPANIES]
    consumers = [("Mme Isabelle Caron", "fr"), ("M. Thomas Perrin", "fr"), ("Mr David Wilson", "en"),
                 ("Mme Nadia Benali", "fr"), ("M. Paul Marchand", "fr"), ("Ms Grace Hall", "en"),
                 ("M. Antoine Robin", "fr"), ("Mme Léa Michel", "fr")]
    names += consumers
    for index, (name, language) in enumerate(names, start=1):
        street, postcode, city = rng.choice(FR_CITIES if language == "fr" else EN_CITIES)
        consumer = (name, language) in consumers
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:16]
        customer = Customer(
            code=f"C{index:04d}", name=name, language=language, country="FR" if language == "fr" else "GB",
            kind="consumer" if consumer else "business",
            email="" if index % 13 == 0 else f"compta@{slug}.example",
            phone=f"0{rng.randint(1, 9)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                  f"{rng.randint(10, 99)}",
            address=street, postcode=postcode, city=city,
            no_auto_reminders=index % 17 == 0, direct_debit=index % 19 == 0,
        )
        if index % 11 == 0:
            customer.paused_until = today + timedelta(days=20)
            customer.pause_reason = "Litige en cours" if language == "fr" else "Dispute in progress"
        if not consumer:
            last, first = rng.choice(FR_PEOPLE if language == "fr" else EN_PEOPLE)
            customer.contacts.append(Contact(name=last, first_name=first, role="billing",
                                             email=f"{first.lower()}.{last.lower()}@{slug}.example"))
            if index % 3 == 0:
                customer.contacts.append(Contact(name="Service", first_name="Comptabilité", role="followup",
                                                 email=f"factures@{slug}.example"))
            customer.sales_reps.append(rng.choice(agents))
        session.add(customer)
        customers.append(customer)
    session.flush()

    # a second reminder policy, shorter, followed by a few customers (the others follow the default policy)
    risky = policies.create(session, "Clients à risque", None, source=policies.default_policy(session))
    for level in session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == risky.id)):
        level.delay = {1: "+7 days", 2: "+15 days", 3: "+25 days"}.get(level.rank, level.delay)
    for index, customer in enumerate(customers, start=1):
        if index % 7 == 0 and customer.kind == "business":
            customer.policy_id = risky.id
    session.flush()

    for number in range(1, 301):
        customer = rng.choice(customers)
        due = today + timedelta(days=rng.randint(-120, 30))
        issue = due - timedelta(days=30)
        excl = _cents(rng.uniform(80, 9000))
        incl = _cents(float(excl) * 1.2)
        kind = "credit_note" if number % 37 == 0 else "invoice"
        status = "validated"
        if number % 29 == 0:
            status = "cancelled"
        elif number % 31 == 0:
            status = "draft"
        elif number % 5 == 0 and due < today:
            status = "paid"
        invoice = Invoice(
            number=f"{'AV' if kind == 'credit_note' else 'FA'}{issue:%Y%m}-{number:04d}", customer=customer,
            issue_date=issue, due_date=None if number % 43 == 0 else due,
            currency="GBP" if customer.country == "GB" and number % 2 else "EUR",
            total_excl_tax=excl, total_incl_tax=incl, status=status, kind=kind,
            creator=rng.choice(agents), followup_user=rng.choice(agents) if number % 4 == 0 else None,
            billing_contact=customer.contact("billing"), followup_contact=customer.contact("followup"),
            no_auto_reminders=number % 23 == 0,
        )
        if status == "paid":
            invoice.payments.append(Payment(date=due + timedelta(days=rng.randint(0, 20)), amount=incl,
                                            reference="VIR"))
        elif status == "validated" and kind == "invoice" and number % 4 == 1:
            part = _cents(float(incl) * rng.choice((0.25, 0.5)))
            invoice.payments.append(Payment(date=min(today, issue + timedelta(days=rng.randint(5, 40))),
                                            amount=part, reference="CHQ"))
        session.add(invoice)
    session.flush()
    return passwords
