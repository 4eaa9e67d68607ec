"""Sending text messages. The backend is chosen by settings.SMS_BACKEND, like Django's e-mail backends.

The console backend writes each message to the log, which is what the embedded default and the tests use; a
provider backend implements the same ``send_messages`` method.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("csms.sms")


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str


class ConsoleSmsBackend:
    """Writes messages to the log instead of sending them."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        for message in messages:
            logger.info("SMS to %s:\n%s", message.to, message.body)
        return len(messages)


class LocmemSmsBackend:
    """Keeps messages in ``outbox`` (for tests), like Django's locmem e-mail backend."""

    outbox: list[SmsMessage] = []

    def send_messages(self, messages: list[SmsMessage]) -> int:
        type(self).outbox.extend(messages)
        return len(messages)


def send(*, to: str, body: str) -> int:
    backend = import_string(settings.SMS_BACKEND)()
    return backend.send_messages([SmsMessage(to=to, body=body)])
