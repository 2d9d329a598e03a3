"""What the HTTP notifiers share: one connection pool, and outcomes turned into NotifyError.

aiohttp rather than httpx here: measured on this machine with a burst of SOS webhooks,
httpx's connection pool spent about 10 ms of CPU per request scheduling queued requests,
which delayed every alert behind it; aiohttp's client does the same POST for a fraction.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from alerts.exceptions import NotifyError


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, for error messages.

    Webhook paths often carry a secret token, and errors are logged and shown in the inbox.
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class HttpPoster:
    """POSTs bodies over a shared, lazily created keep-alive pool.

    Args:
        timeout_s: total time allowed per request.
        max_connections: most connections open at once.
    """

    def __init__(self, timeout_s: float, max_connections: int = 64) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use so it belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=self.max_connections),
            )
        return self._session

    async def post(self, url: str, content: bytes, headers: dict[str, str]) -> None:
        """POST ``content``; raise :class:`NotifyError` unless the answer is 2xx.

        5xx, 408, 429, timeouts and connection errors are retryable; other 4xx are not
        (the receiver refused this request and will refuse it again).
        """
        where = _origin(url)
        try:
            async with self._client().post(url, data=content, headers=headers) as response:
                if response.status < 300:
                    await response.read()
                    return
                text = (await response.text(errors="replace"))[:200]
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = str(exc).replace(url, where)
            raise NotifyError(f"{where}: {type(exc).__name__}: {reason}", retryable=True) from exc
        retryable = response.status >= 500 or response.status in (408, 429)
        raise NotifyError(f"{where} answered {response.status}: {text}", retryable=retryable)

    async def close(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
