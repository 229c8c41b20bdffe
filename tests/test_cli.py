from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Customer, Invoice, Policy, ReminderLevel, StatutoryRate, User

ROOT = Path(__file__).resolve().parent.parent


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_user(runner):
    result = runner.invoke(args=["relance", "create-user", "Anne@Example.com", "--role", "manager",
                                 "--password", "long enough 1"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert (user.email, user.role) == ("anne@example.com", "manager")
    assert user.check_password("long enough 1") and user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_create_user_prompts_for_the_password(runner):
    result = runner.invoke(args=["relance", "create-user", "bob@example.com", "--role", "agent"],
                           input="long enough 2\nlong enough 2\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User)).check_password("long enough 2")


def test_create_user_bad_input_creates_nothing(runner):
    cases = [
        (["not-an-email", "--role", "agent", "--password", "long enough 1"], "invalid email"),
        (["a@example.com", "--role", "boss", "--password", "long enough 1"], "unknown role 'boss'"),
        (["a@example.com", "--role", "agent", "--password", "short"], "at least 12 characters"),
        (["a@example.com", "--role", "agent", "--password", "password1234"], "too common"),
        (["anne.martin@example.com", "--role", "agent", "--password", "anne.martin@example.com"], "email address"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["relance", "create-user", *args])
        assert result.exit_code != 0
        assert message in result.output
    assert count(User) == 0
    runner.invoke(args=["relance", "create-user", "a@example.com", "--role", "agent", "--password", "long enough 1"])
    result = runner.invoke(args=["relance", "create-user", "A@example.com", "--role", "admin", "--password", "x" * 9])
    assert result.exit_code != 0 and "already exists" in result.output
    assert count(User) == 1


def test_demo_fills_an_empty_database_and_refuses_a_full_one(runner):
    result = runner.invoke(args=["relance", "demo"])
    assert result.exit_code == 0, result.output
    for role in ("viewer", "agent", "manager", "admin"):
        assert f"{role}@relance.example" in result.output
    assert 35 <= count(Customer) <= 45
    assert count(Invoice) == 300
    assert count(ReminderLevel) == 8 and count(StatutoryRate) >= 5  # the default policy's four and a shorter copy
    short = db.session.scalar(select(Policy).where(Policy.is_default.is_(False)))
    assert [level.delay for level in short.levels] == ["-5 days", "+7 days", "+15 days", "+25 days"]
    assert 1 <= db.session.scalar(select(func.count()).where(Customer.policy_id == short.id)) < count(Customer)
    invoices = db.session.scalars(select(Invoice)).all()
    kinds = {(i.status, i.kind) for i in invoices}
    assert {("validated", "invoice"), ("paid", "invoice"), ("cancelled", "invoice"), ("draft", "invoice")} <= kinds
    assert any(i.kind == "credit_note" for i in invoices)
    assert any(i.due_date is None for i in invoices)
    assert any(0 < i.amount_paid < i.total_incl_tax for i in invoices)
    customers = db.session.scalars(select(Customer)).all()
    assert {c.language for c in customers} == {"fr", "en"} and {c.kind for c in customers} == {"business", "consumer"}
    assert any(c.paused_until for c in customers) and any(c.no_auto_reminders for c in customers)

    again = runner.invoke(args=["relance", "demo"])
    assert again.exit_code != 0 and "already holds data" in again.output and "--reset" in again.output
    assert count(Invoice) == 300
    assert runner.invoke(args=["relance", "demo", "--if-empty"]).exit_code == 0
    reset = runner.invoke(args=["relance", "demo", "--reset"])
    assert reset.exit_code == 0, reset.output
    assert count(Invoice) == 300 and count(User) == 4


def _flask(env_update: dict, *args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env.update({"RELANCE_INSTANCE_PATH": str(tmp_path / "inst"), "FLASK_APP": "wsgi"}, **env_update)
    return subprocess.run([sys.executable, "-m", "flask", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_malformed_database_url_gives_one_line(tmp_path):
    result = _flask({"RELANCE_DATABASE_URL": "not a url"}, "relance", "--help", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "RELANCE_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = _flask({"RELANCE_DATABASE_URL": "mysql://x@y/z"}, "relance", "--help", tmp_path=tmp_path)
    assert result.returncode != 0 and "only sqlite and postgresql" in result.stderr


def test_secret_key_is_generated_once_and_kept(tmp_path):
    from relance.config import load_config

    os.environ.pop("RELANCE_SECRET_KEY", None)
    first = load_config({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    second = load_config({"INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert load_config({"INSTANCE_PATH": str(tmp_path / "other")})["SECRET_KEY"] != first
