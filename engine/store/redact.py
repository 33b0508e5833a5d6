"""Secrets out of what is printed and logged: the database password and API keys.

A database URL is shown with its password as ``***`` (:func:`shown_url`). The text of an
error from the database layer is reduced to one line with the password taken out wherever
it appears, as written or URL-quoted (:func:`database_problem`): drivers may repeat a DSN.
:class:`SecretFilter` does the same to every log record a process writes, and replaces
anything shaped like an API key, as a last line of defence for messages no one checked.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

HIDDEN = "***"
# engine.store.keys: "assay_" and 43 URL-safe characters.
_API_KEY = re.compile(r"assay_[A-Za-z0-9_-]{43}")
_LONGEST = 500


def shown_url(url: str) -> str:
    """``url`` as it may be printed or logged: with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a database URL that cannot be read)"


def password_of(url: str) -> str | None:
    """The password in ``url``, if it has one."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return None
    return str(password) if password else None


def _forms(secret: str) -> list[str]:
    """``secret`` as written and as URL-quoted, longest first."""
    return sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len, reverse=True)


def hidden(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` (as written or URL-quoted) and anything shaped like
    an API key replaced by ``***``."""
    for secret in secrets:
        for form in _forms(secret):
            text = text.replace(form, HIDDEN)
    return _API_KEY.sub("assay_" + HIDDEN, text)


def database_problem(exc: BaseException, url: str) -> str:
    """Why the database at ``url`` failed, in one line for an operator's log or terminal:
    the driver's own first line (not SQLAlchemy's statement and link), password hidden."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    said = lines[0] if lines else type(cause).__name__
    password = password_of(url)
    return hidden(said, [password] if password else [])[:_LONGEST]


class SecretFilter(logging.Filter):
    """Hides ``secrets`` and API keys in every record it passes (message, arguments and
    traceback); install it on a process's handlers (:meth:`install`)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = hidden(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = hidden(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = hidden(record.stack_info, self.secrets)
        return True

    @classmethod
    def install(cls, url: str | None) -> SecretFilter:
        """A filter for ``url``'s password on every handler of the root logger and of the
        loggers that do not propagate to it (uvicorn's); returns it."""
        password = password_of(url) if url else None
        secrets = [password] if password else []
        found = cls(secrets)
        loggers = [logging.getLogger()]
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and not logger.propagate:
                loggers.append(logger)
        for logger in loggers:
            for handler in logger.handlers:
                present = [f for f in handler.filters if isinstance(f, cls)]
                if not present:
                    handler.addFilter(found)
                for earlier in present:  # installed for another URL: hides both
                    earlier.secrets += [s for s in secrets if s not in earlier.secrets]
        return found
