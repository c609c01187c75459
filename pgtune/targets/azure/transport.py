"""azure-core's HTTP transport, made of pgtune's bounded HTTP client: every request the Azure SDK
sends (signed with the bearer token its policy adds) goes out through `endpoints.HttpClient.exchange`
— one deadline for the call, a size cap on the answer, no redirects, proxies only from the
environment — and comes back as the response the SDK reads."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict

from pgtune.integrations.endpoints import Answer, EndpointError, HttpClient, deadline_from_environment, remember_bearer


class _Nothing:
    def close(self) -> None:
        return None


def response(request: Any, answer: Answer) -> HttpResponseImpl:
    """An answer (status, headers, body) as the response azure-core's pipeline reads."""
    headers = CaseInsensitiveDict(dict(answer.headers))
    made = HttpResponseImpl(
        request=request,
        internal_response=_Nothing(),
        status_code=answer.status,
        reason="",
        content_type=headers.get("content-type", "application/json"),
        headers=headers,
        stream_download_generator=lambda *args, **kwargs: iter([answer.body]),
    )
    made._content = answer.body  # read already: the bounded client never streams an unbounded body
    return made


def _body(request: Any) -> bytes | None:
    """The request's body, whichever request type the SDK built (azure.core.rest's or the pipeline's)."""
    for name in ("content", "body", "data"):
        value = getattr(request, name, None)
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
    return None


class BoundedTransport(HttpTransport[Any, Any]):
    def __init__(self, error: type[EndpointError] = EndpointError) -> None:
        self._client = HttpClient("Azure", error=error, proxies_from_environment=True)

    def send(self, request: Any, **kwargs: Any) -> HttpResponseImpl:
        body = (
            request.content
            if isinstance(request.content, bytes)
            else (request.content.encode() if isinstance(request.content, str) else None)
        )
        remember_bearer(request.headers)
        answer = self._client.exchange(
            request.method, request.url, dict(request.headers), body, deadline=deadline_from_environment()
        )
        return response(request, answer)

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> BoundedTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        return None
