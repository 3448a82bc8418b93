"""One SMTP session with the configured mail server, bounded in time.

smtplib's timeout (MAIL_TIMEOUT) bounds each socket operation, not a conversation: a
server that trickles a byte every few seconds never trips it. Each step here (connect
and sign in, then each message) therefore also runs under a deadline (MAIL_DEADLINE);
when it passes, a timer shuts the socket down, the blocked read returns, and the step
fails with "did not finish within N s".
"""
from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from contextlib import contextmanager


class SendError(Exception):
    """A failed step, `reason` short and meant for people (no secrets). `permanent`: the
    server refused this message for good (5xx), retrying cannot help. `broken`: the
    connection is gone; later messages need a new one."""

    def __init__(self, reason: str, *, permanent: bool = False, broken: bool = True):
        super().__init__(reason)
        self.reason, self.permanent, self.broken = reason, permanent, broken


def port_of(config) -> int:
    port = config.get("MAIL_PORT")
    if port:
        return int(port)
    return 587 if config.get("MAIL_USE_TLS", True) else 25


class Connection:
    """`with Connection(config) as server: server.send(sender, recipient, raw)`, or
    `open()` and `close()` by hand."""

    def __init__(self, config):
        self.host = config.get("MAIL_SERVER") or ""
        self.port = port_of(config)
        self.where = f"{self.host}:{self.port}"
        self.timeout = float(config.get("MAIL_TIMEOUT") or 10)
        self.deadline = float(config.get("MAIL_DEADLINE") or 60)
        self.use_tls = config.get("MAIL_USE_TLS", True)
        self.username = config.get("MAIL_USERNAME") or ""
        self.password = config.get("MAIL_PASSWORD") or ""
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Connection:
        return self.open()

    def open(self) -> Connection:
        """Connect, STARTTLS, sign in; raises SendError."""
        self.smtp = smtplib.SMTP(timeout=self.timeout)
        try:
            with self._bounded():
                self.smtp.connect(self.host, self.port)
                self.smtp.ehlo_or_helo_if_needed()
                if self.use_tls:
                    if not self.smtp.has_extn("starttls"):
                        # Never fall back to sending (and signing in) in the clear.
                        raise SendError(f"the mail server {self.where} does not offer "
                                        "STARTTLS (set MAIL_USE_TLS=false only for a local "
                                        "relay)")
                    self.smtp.starttls(context=ssl.create_default_context())
                    self.smtp.ehlo()
                if self.username:
                    if not self.smtp.has_extn("auth"):
                        raise SendError(f"the mail server {self.where} does not offer "
                                        "sign-in (AUTH) here")
                    self.smtp.login(self.username, self.password)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, sender: str, recipient: str, raw: bytes) -> None:
        """Send one message; raises SendError."""
        if self.smtp is None or self.smtp.sock is None:
            raise SendError(f"the connection to the mail server {self.where} was lost")
        options = [] if raw.isascii() and (sender + recipient).isascii() else ["SMTPUTF8"]
        with self._bounded():
            self.smtp.sendmail(sender, [recipient], raw, mail_options=options)

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is None or smtp.sock is None:
            return
        try:
            smtp.sock.settimeout(min(self.timeout, 2.0))
            smtp.quit()
        except Exception:  # noqa: BLE001 - it is closing anyway
            smtp.close()

    @contextmanager
    def _bounded(self):
        """Run a step under the deadline, and turn every failure into a SendError."""
        expired = threading.Event()

        def expire():
            expired.set()
            sock = self.smtp.sock if self.smtp is not None else None
            if sock is not None:
                try:
                    # The plain socket's shutdown, also under TLS: it wakes the reader
                    # blocked in recv without touching the TLS object it is using.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(self.deadline, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except SendError:
            raise
        except Exception as error:  # noqa: BLE001 - described for people below
            if expired.is_set():
                raise SendError(f"the mail server {self.where} did not finish within "
                                f"{self.deadline:g} s") from error
            raise self._error(error) from error
        finally:
            timer.cancel()

    def _error(self, error: BaseException) -> SendError:
        where = self.where
        if isinstance(error, smtplib.SMTPAuthenticationError):
            return SendError("the mail server refused the user name or password")
        if isinstance(error, smtplib.SMTPNotSupportedError):
            what = error.args[0] if error.args else "it"
            return SendError(f"the mail server {where} does not support {what}", broken=False)
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            codes = list(error.recipients.values())
            code, text = codes[0] if codes else (0, b"")
            return SendError("the mail server refused the address"
                             + (f" ({code} {_text(text)})" if codes else ""),
                             permanent=code >= 500, broken=False)
        if isinstance(error, smtplib.SMTPResponseException):
            # 4xx: try again later; 5xx on a message (sender or data refused): never.
            code = error.smtp_code
            message_step = isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError)
            return SendError(f"the mail server answered {code} {_text(error.smtp_error)}"
                             .strip(), permanent=message_step and code >= 500,
                             broken=not message_step)
        if isinstance(error, ConnectionRefusedError):
            return SendError(f"the mail server {where} refused the connection")
        if isinstance(error, socket.timeout | TimeoutError):
            return SendError(f"the mail server {where} did not answer in time")
        if isinstance(error, ssl.SSLError):
            return SendError(f"the secure connection to {where} failed "
                             f"({error.reason or error})")
        if isinstance(error, socket.gaierror):
            return SendError(f"the mail server name {self.host!r} could not be resolved")
        if isinstance(error, smtplib.SMTPServerDisconnected) and "timed out" in str(error):
            return SendError(f"the mail server {where} did not answer in time")
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return SendError(f"the mail server {where} closed the connection")
        if isinstance(error, OSError):
            return SendError(f"the mail server {where} could not be reached "
                             f"({error.strerror or error})")
        if isinstance(error, UnicodeError):
            return SendError("the address cannot be written in an email header",
                             permanent=True, broken=False)
        return SendError(str(error) or type(error).__name__)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
