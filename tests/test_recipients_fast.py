"""Property: the selection's quick check of plain addresses (`recipients.plain_address`) only ever accepts an address
email-validator accepts unchanged, so `clean_address` answers exactly as email-validator alone."""

from __future__ import annotations

import os

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.services.engine.recipients import clean_address, plain_address


def validator(raw: str) -> str | None:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-."
label = st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
                  st.text("abcz019-XY", min_size=0, max_size=70))
tld = st.one_of(st.from_regex(r"[a-z]{2,4}", fullmatch=True), st.text("abcxyzAZ019-", min_size=0, max_size=5),
                st.sampled_from(["test", "local", "localhost", "invalid", "onion", "arpa", "example", "com"]))
local = st.one_of(st.from_regex(r"[a-zA-Z0-9_+-]{1,10}(\.[a-zA-Z0-9'=]{1,5})?", fullmatch=True),
                  st.text(ATEXT, min_size=0, max_size=70),
                  st.sampled_from(["postmaster", "Info", "abuse", "www", "jürgen", '"a b"', "a..b", ".a"]))
structured = st.builds(lambda lo, labels, top: f"{lo}@{'.'.join([*labels, top])}",
                       local, st.lists(label, min_size=0, max_size=4), tld)
anything = st.text(ATEXT + "@ <>\"\\[]ü\u00a0.", max_size=40)


# The suite runs the same 500 examples every time; a long search varies them:
# RECIPIENTS_EXAMPLES=5000 .venv/bin/pytest tests/test_recipients_fast.py
EXAMPLES = int(os.environ.get("RECIPIENTS_EXAMPLES", "0")) or None


@settings(max_examples=EXAMPLES or 500, derandomize=EXAMPLES is None, deadline=None)
@given(raw=st.one_of(structured, anything))
def test_plain_addresses_are_what_email_validator_keeps(raw):
    if plain_address(raw):
        assert validator(raw) == raw
    clean_address.cache_clear()
    assert clean_address(raw) == validator(raw)


def test_known_cases():
    for address in ["compta17@client17.example", "a.b+tag@sub.domain.fr", "x@1.com", "o'neil@example.co.uk"]:
        assert plain_address(address) and validator(address) == address
    for address in ["Postmaster@x.com", "a@B.com", "a@xn--bcher-kva.ch", "a@b.test", "a@localhost", "a@b.c1",
                    "a..b@x.com", "jürgen@x.de", "a@ab--cd.com", "a@-b.com", "a" * 65 + "@x.com", ""]:
        assert not plain_address(address)
