"""The email ports and email normalisation."""

from __future__ import annotations

import logging

import pytest

from saas_core.errors import InvalidInput
from saas_core.identity.ports import (
    EmailMessage,
    InMemoryOutbox,
    LoggingEmailSender,
    normalize_email,
)

TOKEN = "tok_6Jx0fq3XwQn1vV9Zk2pTt8yRr4sLm5cBb7dNn0eFf1g"


def _message() -> EmailMessage:
    return EmailMessage(
        to="ada@example.com",
        subject="Reset your password",
        text=f"Reset your password with this code:\n\n{TOKEN}\n",
        kind="reset_password",
        token=TOKEN,
    )


def test_logging_sender_never_logs_the_token(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="saas_core.email"):
        LoggingEmailSender().send(_message())
    assert caplog.records, "the sender logs that an email went out"
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "ada@example.com" in logged
    assert "Reset your password" in logged
    assert TOKEN not in logged


def test_message_repr_hides_body_and_token() -> None:
    assert TOKEN not in repr(_message())
    assert TOKEN not in str(_message())


def test_outbox_keeps_messages_and_finds_the_last_one() -> None:
    outbox = InMemoryOutbox()
    outbox.send(_message())
    outbox.send(EmailMessage(to="bob@example.com", subject="Hi", text="hello", kind="other"))
    assert outbox.last().to == "bob@example.com"
    assert outbox.last(kind="reset_password").token == TOKEN
    assert outbox.last(to="ada@example.com").kind == "reset_password"
    with pytest.raises(LookupError):
        outbox.last(kind="verify_email")
    outbox.clear()
    assert outbox.messages == []


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("  Ada@Example.COM ", "ada@example.com"), ("a.b+c@sub.example.org", "a.b+c@sub.example.org")],
)
def test_normalize_email(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize("raw", ["", "ada", "ada@", "@example.com", "ada@localhost", "a da@x.io"])
def test_normalize_email_refuses_non_addresses(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_email(raw)
