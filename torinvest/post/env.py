"""Where posting secrets come from, and how they are kept out of every output.

Secrets (``JIRA_API_TOKEN``, ``JIRA_PAT``, ``SERVICENOW_PASSWORD``, ``SERVICENOW_TOKEN``) come
from the environment or from an env file (``--env-file F``), never from arguments or the report.
An env file holds ``KEY=VALUE`` lines (``export KEY=VALUE`` too; ``#`` comments; a value may be
in single or double quotes). It is read strictly: a line that is not ``KEY=VALUE`` is an error
naming the file and the line number — never the line, which may hold a secret —, and no
``$VAR`` is expanded (a ``$`` in a token stays a ``$``). Values in the file override the
environment: the file is what the command was told to use — so a variable only the process
environment can set (a proxy, a CA bundle, ``AWS_*``: httpx and boto3 read them from there) is
refused in it at another value than the environment's, rather than silently ignored.

:class:`Redactor` replaces every secret (and the ``user:secret`` base64 of basic auth, and the
signature and session token of a presigned URL, and the value of a credential header or a
cookie as a debug log prints it) with ``[REDACTED]``, as written and
URL-encoded (``quote``/``quote_plus``, ``%2B`` or ``%2b``: a token in a URL's query or a form
body an error quotes): every message a
destination raises, the posting record and the ledger entry go through it, and
:func:`scrubbed_logs` puts it on every log handler while a post runs (httpx logs request URLs,
botocore's debug log the answer that holds a presigned URL).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

from torinvest.errors import InputError

log = logging.getLogger(__name__)

#: The variables whose values are secrets (never shown, logged or recorded).
SECRET_VARIABLES: tuple[str, ...] = (
    "JIRA_API_TOKEN",
    "JIRA_PAT",
    "SERVICENOW_PASSWORD",
    "SERVICENOW_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
#: Pairs whose ``user:secret`` base64 is a secret too (HTTP basic auth).
BASIC_PAIRS: tuple[tuple[str, str], ...] = (
    ("JIRA_EMAIL", "JIRA_API_TOKEN"),
    ("SERVICENOW_USER", "SERVICENOW_PASSWORD"),
)
REDACTED = "[REDACTED]"
#: Secrets shorter than this are not searched for in text (they would match everywhere).
MIN_SECRET_CHARS = 4

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_PRESIGNED = re.compile(
    r"(X-Amz-(?:Signature|Credential|Security-Token)|Signature|x-amz-security-token)="
    r"[^&\s\"'<>]+",
    re.I,
)
#: A credential header as botocore's and httpx's debug logs print it (``'X-Amz-Security-Token':
#: b'…'``, ``Authorization: Basic …``); a session cookie is one too (``Set-Cookie: JSESSIONID=…``
#: acts as the account until it expires).
_CREDENTIAL_HEADERS = r"(?:X-Amz-Security-Token|Authorization|Set-Cookie|Cookie)"
_HEADER = re.compile(
    rf"({_CREDENTIAL_HEADERS}['\"]?\s*:\s*(?:b(?=['\"]))?['\"]?)"
    r"[^'\"\r\n,}]+",
    re.I,
)
#: The same as httpcore's debug log prints a response's headers: a list of byte pairs
#: (``(b'Set-Cookie', b'JSESSIONID=…; Path=/')``).
_HEADER_PAIR = re.compile(
    rf"(\(\s*b?(['\"]){_CREDENTIAL_HEADERS}\2\s*,\s*b?(['\"]))(?:(?!\3).)*",
    re.I,
)


def read_env_file(path: str | Path) -> dict[str, str]:
    """The variables of an env file; raise :class:`InputError` naming the file (and the line
    number) when it cannot be read or a line is not ``KEY=VALUE``."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise InputError(
            f"cannot read the env file {p}: {reason}",
            hint="pass a readable file of KEY=VALUE lines with --env-file",
        ) from None
    _warn_if_shared(p)
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        value = _value(match.group(2)) if match else None
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise InputError(
                f"{p}:{number}: the value holds a control character (the line is not shown: it "
                "may hold a secret)",
                hint="a URL, a user name, a token or a password is printable text",
            )
        if match is None or value is None:
            raise InputError(
                f"{p}:{number}: not a KEY=VALUE line (the line is not shown: it may hold a secret)",
                hint="write KEY=VALUE, KEY='VALUE' or KEY=\"VALUE\", one per line",
            )
        values[match.group(1)] = value
    return values


def _value(raw: str) -> str | None:
    """An env-file value: quoted (the quotes removed; ``\\"`` and ``\\\\`` in double quotes),
    or bare (a `` #…`` after it is a comment). None: an unterminated quote."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if quote == '"':
            out, i = [], 1
            while i < len(raw):
                ch = raw[i]
                if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in '"\\':
                    out.append(raw[i + 1])
                    i += 2
                    continue
                if ch == '"':
                    rest = raw[i + 1 :].strip()
                    return "".join(out) if not rest or rest.startswith("#") else None
                out.append(ch)
                i += 1
            return None
        if end < 0:
            return None
        rest = raw[end + 1 :].strip()
        return raw[1:end] if not rest or rest.startswith("#") else None
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _warn_if_shared(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "the env file %s can be read by other users (mode %o): chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


#: Variables the HTTP client (proxies, CA bundles: httpx) and boto3 (``AWS_*``) read from the
#: process environment only: set in an env file to another value, they would be silently
#: ignored — a post that goes around the proxy the file names, or to another AWS account or
#: region than it says.
_PROCESS_ONLY = re.compile(
    r"^(?:(?:https?|all|no)_proxy|ssl_cert_(?:file|dir)|requests_ca_bundle|curl_ca_bundle"
    r"|aws_[a-z0-9_]+)$",
    re.I,
)


def environment(
    env_file: str | Path | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables a post reads: ``base`` (default: the process environment), overridden by
    ``env_file``'s when one is given. An env file that sets a variable only the process
    environment can (:data:`_PROCESS_ONLY`: a proxy, a CA bundle, ``AWS_*``) to another value
    than it has is an :class:`InputError` naming the variables, never their values (a proxy URL
    may hold a password): it would be ignored."""
    merged = dict(os.environ if base is None else base)
    if env_file is not None:
        values = read_env_file(env_file)
        ignored = sorted(
            k for k, v in values.items() if _PROCESS_ONLY.match(k) and merged.get(k) != v
        )
        if ignored:
            raise InputError(
                f"the env file {Path(env_file).expanduser()} sets {', '.join(ignored)}, which "
                "posting cannot take from an env file (the values are not shown): the HTTP "
                "client's proxy and CA settings and AWS's are read from the process environment "
                "only, so the file's would be ignored",
                hint="set them in the environment the command runs in (the crontab, systemd's "
                "Environment= or EnvironmentFile=), or remove them from the file; an env file "
                "holds the JIRA_… and SERVICENOW_… variables",
            )
        merged.update(values)
    return merged


class Redactor:
    """Replaces secrets in text with ``[REDACTED]``: the values of :data:`SECRET_VARIABLES`
    in ``env``, the base64 of each basic-auth pair, and presigned-URL signatures and tokens.
    :meth:`add` registers more (a token a server handed out)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        env = env or {}
        for name in SECRET_VARIABLES:
            self.add(env.get(name))
        for user, secret in BASIC_PAIRS:
            if env.get(user) and env.get(secret):
                # as given and as sent (the destinations strip both values before use)
                for u, p in {(env[user], env[secret]), (env[user].strip(), env[secret].strip())}:
                    self.add(base64.b64encode(f"{u}:{p}".encode()).decode())

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value.strip()) >= MIN_SECRET_CHARS:
                self._secrets.add(value)
                self._secrets.add(value.strip())
                self._pattern = None

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: object) -> str:
        out = "" if text is None else str(text)
        if self._secrets:
            if self._pattern is None:
                forms = {form for secret in self._secrets for form in _encodings(secret)}
                self._pattern = re.compile(
                    "|".join(_literal(f) for f in sorted(forms, key=len, reverse=True))
                )
            out = self._pattern.sub(REDACTED, out)
        out = _HEADER_PAIR.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
        out = _HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
        return _PRESIGNED.sub(lambda m: f"{m.group(1)}={REDACTED}", out)

    def value(self, obj: object) -> object:
        """``obj`` (JSON-like: dicts, lists, strings) with every string redacted."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, Mapping):
            return {str(k): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v) for v in obj]
        return obj


def _encodings(secret: str) -> set[str]:
    """``secret`` as written and as URL-encoding writes it (a path, a query, a form body)."""
    return {secret} | {
        encode(secret, safe=safe) for encode in (quote, quote_plus) for safe in ("", "/")
    }


def _literal(form: str) -> str:
    """A regex for ``form`` with each ``%XX`` escape in either case (``%2B`` or ``%2b``)."""
    parts = re.split(r"(%[0-9A-Fa-f]{2})", form)
    return "".join(f"%(?i:{p[1:]})" if i % 2 else re.escape(p) for i, p in enumerate(parts))


class _RedactFilter(logging.Filter):
    """Formats a record's message and redacts it (arguments included)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        clean = self.redactor(message)
        if record.exc_info and record.exc_info[1] is not None:
            clean += f" ({type(record.exc_info[1]).__name__}: "
            clean += self.redactor(record.exc_info[1]) + ")"
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = clean, ()
        return True


@contextlib.contextmanager
def scrubbed_logs(redactor: Redactor, loggers: Iterable[str] = ()) -> Iterator[None]:
    """While the block runs, every handler of the root logger (and of ``loggers``) redacts
    what it is handed: no secret, presigned URL or token reaches a log, whatever the level."""
    filt = _RedactFilter(redactor)
    handlers = list(logging.getLogger().handlers)
    for name in loggers:
        handlers += logging.getLogger(name).handlers
    for handler in handlers:
        handler.addFilter(filt)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(filt)
