"""What the HTTP notifiers share: turning httpx outcomes into NotifyError."""

from __future__ import annotations

import httpx

from alerts.exceptions import NotifyError


async def post(
    client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]
) -> None:
    """POST ``content``; raise :class:`NotifyError` unless the answer is 2xx.

    5xx, 408, 429 and transport errors are retryable; other 4xx are not (the receiver
    refused this request and will refuse it again).
    """
    try:
        response = await client.post(url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        raise NotifyError(f"{url}: {type(exc).__name__}: {exc}", retryable=True) from exc
    if response.status_code >= 300:
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise NotifyError(
            f"{url} answered {response.status_code}: {response.text[:200]}",
            retryable=retryable,
        )
