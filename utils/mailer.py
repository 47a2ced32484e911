"""SMTP mail client (stdlib smtplib) with the vendor error split the outboxes expect.

A refused connection, a dropped session or a 4xx reply is `VendorTransientError` (send again
later); a 5xx reply is `VendorRejectedError`. SMTP has no idempotency key: a message accepted by
the server whose 250 reply is lost in transit would be sent again on retry, so each message
carries a stable `Message-ID` that lets mail systems (and people) recognise a duplicate.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from config import Settings
from helpers.errors import UpstreamNotConfigured
from utils.http import VendorRejectedError, VendorTransientError

VENDOR = "smtp"


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    use_tls: bool = True
    timeout: float = 15.0

    def send(self, message: EmailMessage) -> None:
        """Send one message (From is set here when missing)."""
        if "From" not in message:
            message["From"] = self.sender
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.use_tls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            detail = f"{exc.smtp_code} {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise VendorTransientError(VENDOR, detail, status=exc.smtp_code) from None
            raise VendorRejectedError(VENDOR, detail, status=exc.smtp_code) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = f"recipients refused {codes}"
            if all(400 <= code < 500 for code in codes):
                raise VendorTransientError(VENDOR, detail) from None
            raise VendorRejectedError(VENDOR, detail) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise VendorTransientError(VENDOR, f"{type(exc).__name__}: {exc}") from None


def build_mailer(settings: Settings) -> Mailer:
    """A mailer for `SMTP_HOST`; UpstreamNotConfigured when it is empty."""
    if not settings.SMTP_HOST:
        raise UpstreamNotConfigured("email is not configured: set SMTP_HOST")
    return Mailer(
        host=settings.SMTP_HOST,
        port=settings.SMTP_PORT,
        sender=settings.SMTP_FROM,
        username=settings.SMTP_USER,
        password=settings.SMTP_PASSWORD.get_secret_value(),
        use_tls=settings.SMTP_USE_TLS,
        timeout=settings.VENDOR_TIMEOUT_SECONDS,
    )
