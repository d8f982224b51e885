"""Email over SMTP (PORTAL_MAIL_URL): smtp://, smtps:// or smtp+starttls://user:pass@host:port."""
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from portal.notify.channels import Adapter, PermanentError, Receipt, TransientError


class SmtpAdapter(Adapter):
    channel = "email"
    provider = "smtp"

    def __init__(self, url, sender, timeout):
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.sender = sender
        self.timeout = timeout

    def _connect(self):
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if self.user:
            client.login(self.user, self.password)
        return client

    def send(self, message):
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.address
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(idstring=f"delivery-{message.reference}", domain="portal")
        email.set_content(message.body)
        try:
            with self._connect() as client:
                client.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b"refused"))
            if 400 <= code < 500:
                raise TransientError(code, text) from None
            raise PermanentError(code, text) from None
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (421, 451, 452):
                raise PermanentError(exc.smtp_code, exc.smtp_error) from None
            raise TransientError(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(type(exc).__name__, str(exc)) from None
        return Receipt(email["Message-ID"])

    def check(self):
        try:
            with self._connect() as client:
                code, text = client.noop()
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(type(exc).__name__, str(exc)) from None
        return f"{self.host}:{self.port} answered {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"

    def describe(self):
        return f"SMTP {self.scheme}://{self.host}:{self.port}"
