"""One HTTP client for every endpoint pgtune talks to (Patroni's REST API now; cloud APIs later).

Whatever answers is untrusted input, so every call is bounded the same way:
- one overall deadline per call (connect, send, every read of the body): httpx's timeouts are per
  operation, so a server that drips a byte every few seconds would hold a plan for as long as it
  drips — the call runs under `asyncio.timeout`, which cancels it wherever it is;
- the body is read streamed and refused past a size cap (an endless answer ends the call at the
  cap, not when memory runs out);
- redirects are never followed: a 3xx is an error naming where it pointed, so credentials never
  travel to a host the user did not name;
- credentials go only to origins the caller trusts (`trust`), checked before anything is sent;
- an answer that is not the JSON asked for (truncated, invalid, not an object) is an error, never
  read as an empty one.
Proxies and `.netrc` from the environment are not used (`trust_env=False`): credentials go straight
to the endpoint. HTTPS is verified against certifi's bundle, or the CA bundle `$PGTUNE_HTTP_CACERT`
names (a private CA, as Patroni's REST API often has); verification is never turned off.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pgtune.base.errors import PgtuneError
from pgtune.base.escape import line
from pgtune.base.redact import remember_secret, scrub_known

if TYPE_CHECKING:
    import ssl

CACERT_ENV = "PGTUNE_HTTP_CACERT"
DEADLINE_ENV = "PGTUNE_HTTP_TIMEOUT"
DEFAULT_DEADLINE = 10.0
"""Seconds one HTTP call may take in all, from connecting to the last byte ($PGTUNE_HTTP_TIMEOUT)."""
MAX_BODY = 4 * 1024 * 1024
"""Bytes an answer may hold: Patroni's /cluster of a hundred members is a few tens of kB."""
SHOWN = 200
"""Characters of an answer quoted in an error."""


class EndpointError(PgtuneError):
    """An HTTP endpoint could not be reached, refused, or answered what pgtune cannot accept."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def origin(url: str) -> str:
    """scheme://host:port, the port always given, the host lower-cased: what credentials are bound to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"not an http(s) URL: {shown(url)!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointError(f"not a valid port in {shown(url)!r}") from None
    host = parts.hostname.lower()
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def shown(text: str, limit: int = SHOWN) -> str:
    """Text from an endpoint or a URL as an error may quote it: secrets scrubbed, userinfo of a URL
    dropped, control characters escaped, bounded."""
    if "://" in text and "@" in text:
        scheme, _, rest = text.partition("://")
        netloc, sep, path = rest.partition("/")
        text = f"{scheme}://{netloc.rpartition('@')[2]}{sep}{path}"
    text = line(scrub_known(text))
    return text if len(text) <= limit else text[:limit] + "..."


def said(exc: Exception) -> str:
    """An SDK's error as one bounded, scrubbed line (its `message` where it has one)."""
    return shown(" ".join(str(getattr(exc, "message", None) or exc).split()))


def tls_from_environment() -> ssl.SSLContext | bool:
    """True: certifi's bundle (httpx's default); else a context trusting the bundle $PGTUNE_HTTP_CACERT names."""
    path = os.environ.get(CACERT_ENV)
    if not path:
        return True
    import ssl  # only when a bundle is named: plans of one server never load it

    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise EndpointError(f"${CACERT_ENV}: cannot read a CA bundle from {shown(path)!r}: {shown(str(exc))}") from None


def remember_bearer(headers: Any) -> None:
    """The bearer token an SDK's auth policy put on a request: kept out of everything pgtune prints,
    like a password (the SDKs fetch tokens themselves; pgtune first sees them here)."""
    auth = str(headers.get("Authorization") or headers.get("authorization") or "")
    if auth.lower().startswith("bearer ") and len(auth) > 7:
        remember_secret(auth[7:])


def deadline_from_environment() -> float:
    raw = os.environ.get(DEADLINE_ENV)
    if not raw:
        return DEFAULT_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if not 0 < value <= 600:
        raise EndpointError(f"${DEADLINE_ENV} wants seconds between 0 and 600, not {shown(raw)!r}")
    return value


class HttpClient:
    """Calls to one service's endpoints: `what` names it in errors ("Patroni")."""

    def __init__(
        self,
        what: str,
        *,
        credentials: tuple[str, str] | None = None,
        bearer: str | None = None,
        deadline: float | None = None,
        max_body: int = MAX_BODY,
        error: type[EndpointError] = EndpointError,
        proxies_from_environment: bool = False,
    ) -> None:
        self.what = what
        self.error = error  # what a failed call raises: the service's own error (PatroniError)
        self.deadline = deadline_from_environment() if deadline is None else deadline
        self.verify = tls_from_environment()
        self.max_body = max_body
        self._credentials = credentials
        self._bearer = bearer  # a token (GitHub's API): sent instead of Basic credentials
        self._trusted: set[str] = set()
        self._trust_env = proxies_from_environment  # AWS: HTTPS_PROXY as the SDK honours it (requests are signed)

    def trust(self, url: str) -> None:
        """Credentials may go to this URL's origin (the one the user gave; what that service advertises)."""
        self._trusted.add(origin(url))

    def trusted(self, url: str) -> bool:
        return origin(url) in self._trusted

    def call(self, method: str, url: str, body: Any = None, *, authenticate: bool = False) -> Answer:
        """One request; any status below 300 is returned, everything else is an EndpointError."""
        where = f"{self.what} {method} {shown(url)}"
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}  # the cap counts what is kept
        if authenticate and (self._credentials is not None or self._bearer is not None):
            if not self.trusted(url):
                raise self.error(
                    f"{where}: refused to send credentials to {origin(url)}, which is neither the URL given "
                    f"nor an address {self.what} advertises"
                )
            if self._bearer is not None:
                headers["Authorization"] = f"Bearer {self._bearer}"
            else:
                assert self._credentials is not None
                user, password = self._credentials
                headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        content = None if body is None else json.dumps(body).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
        import asyncio  # loaded on the first call: a plan of one server never pays for them

        import httpx

        try:
            answer = asyncio.run(self._bounded(method, url, headers, content))
        except TimeoutError:
            raise self.error(f"{where}: no complete answer within {self.deadline:g}s (${DEADLINE_ENV})") from None
        except httpx.HTTPError as exc:
            raise self.error(f"{where}: {shown(str(exc) or type(exc).__name__)}") from None
        except OSError as exc:
            raise self.error(f"{where}: {shown(str(exc))}") from None
        if answer.status >= 300:
            hint = ""
            if answer.status == 401:
                hint = f" (give {self.what}'s credentials)"
            raise self.error(f"{where}: HTTP {answer.status} {shown(answer.text.strip())}{hint}")
        return answer

    def json(self, method: str, url: str, body: Any = None, *, authenticate: bool = False) -> dict[str, Any]:
        """A call whose answer must be one JSON object."""
        doc = self.json_value(method, url, body, authenticate=authenticate)
        if not isinstance(doc, dict):
            raise self.error(f"{self.what} {method} {shown(url)}: the answer is not a JSON object")
        return doc

    def json_value(self, method: str, url: str, body: Any = None, *, authenticate: bool = False) -> Any:
        """A call whose answer must be JSON (of any shape: the caller checks it)."""
        from pgtune.base.jsontext import JsonRefused, loads

        answer = self.call(method, url, body, authenticate=authenticate)
        try:
            doc = loads(answer.body)
        except JsonRefused as exc:
            raise self.error(
                f"{self.what} {method} {shown(url)}: the answer is not JSON pgtune accepts ({shown(str(exc), 120)}; "
                f"{len(answer.body)} bytes: {shown(answer.text)!r})"
            ) from None
        return doc

    def exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        *,
        deadline: float,
        budget: float | None = None,
    ) -> Answer:
        """One request exactly as given (a signed AWS request: its headers and body untouched), under
        the same bounds as `call` but within `deadline` seconds (what is left of the whole call's
        `budget`); any status is returned (the caller's SDK reads its own error documents). Never carries
        this client's credentials."""
        import asyncio

        import httpx

        where = f"{self.what} {method} {shown(url)}"
        headers = {**headers, "Accept-Encoding": "identity"}
        try:
            return asyncio.run(self._bounded(method, url, headers, content, deadline))
        except TimeoutError:
            said = deadline if budget is None else budget
            raise self.error(f"{where}: no complete answer within {said:g}s (${DEADLINE_ENV})") from None
        except httpx.HTTPError as exc:
            raise self.error(f"{where}: {shown(str(exc) or type(exc).__name__)}") from None
        except OSError as exc:
            raise self.error(f"{where}: {shown(str(exc))}") from None

    async def _bounded(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, deadline: float | None = None
    ) -> Answer:
        import asyncio

        async with asyncio.timeout(self.deadline if deadline is None else deadline):
            return await self._fetch(method, url, headers, content)

    async def _fetch(self, method: str, url: str, headers: dict[str, str], content: bytes | None) -> Answer:
        import httpx

        timeout = httpx.Timeout(self.deadline)
        async with (
            httpx.AsyncClient(
                follow_redirects=False, trust_env=self._trust_env, timeout=timeout, verify=self.verify
            ) as client,
            client.stream(method, url, headers=headers, content=content) as response,
        ):
            if response.is_redirect or 300 <= response.status_code < 400:
                location = response.headers.get("location", "")
                raise self.error(
                    f"{self.what} {method} {shown(url)}: HTTP {response.status_code} redirects to "
                    f"{shown(location) or '(no Location)'!r}; pgtune follows no redirects (give the address "
                    "that answers itself)"
                )
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise self.error(
                    f"{self.what} {method} {shown(url)}: the answer is {shown(encoding)}-encoded, though pgtune "
                    "asked for none (a compressed answer could unpack past the size limit)"
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                raise self._too_large(method, url, f"declares {int(declared)} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > self.max_body:
                    raise self._too_large(method, url, "went on past the limit")
                chunks.append(chunk)
            return Answer(response.status_code, b"".join(chunks), tuple(response.headers.items()))

    def _too_large(self, method: str, url: str, detail: str) -> EndpointError:
        return self.error(
            f"{self.what} {method} {shown(url)}: the answer {detail}; pgtune reads at most {self.max_body} bytes"
        )
