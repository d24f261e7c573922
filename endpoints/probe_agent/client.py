"""The agent's side of the protocol: four calls to the portal, outbound only.

httpx with `trust_env=True`: HTTPS_PROXY / NO_PROXY and SSL_CERT_FILE / SSL_CERT_DIR are
honoured as other tools honour them. Plain HTTP is refused except to loopback (and with
--allow-http, for a portal in DEBUG on a laboratory network).
"""

import ipaddress
from urllib.parse import urlsplit

import httpx

USER_AGENT = "access-portal-agent"


class Rejected(Exception):
    """The portal refused the token (revoked, deleted, or not an agent's): fatal."""


class Unreachable(Exception):
    """The portal did not answer (or answered 5xx): retried with backoff."""


class Refused(Exception):
    """The portal refused a request as malformed (4xx other than 401/403): logged, skipped."""


def _is_loopback(host: str) -> bool:
    """A loopback address or "localhost", judged from the name alone (nothing is resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_portal_url(url: str, allow_http: bool = False) -> str:
    """The portal's base URL, or ValueError saying why it cannot be used."""
    parts = urlsplit(url or "")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{url!r} is not a portal URL such as https://portal.example.com")
    if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
        raise ValueError(
            f"{url} is plain HTTP: the agent talks to the portal over HTTPS only (plain HTTP is "
            "allowed to loopback, or with --allow-http for a portal in DEBUG)"
        )
    return url.rstrip("/")


class PortalClient:
    def __init__(self, portal: str, token: str, version: str, timeout: float = 15.0):
        self.http = httpx.AsyncClient(
            base_url=f"{portal}/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"{USER_AGENT}/{version}"},
            timeout=timeout,
            trust_env=True,
            follow_redirects=False,
        )

    async def _post(self, path: str, body) -> dict:
        try:
            response = await self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in {401, 403}:
            raise Rejected(response.json().get("detail", "") if _is_json(response) else "")
        if response.status_code >= 500:
            raise Unreachable(f"the portal answered {response.status_code}")
        if response.status_code >= 400:
            raise Refused(f"{response.status_code}: {response.text[:300]}")
        return response.json()

    async def hello(self, public_key: str, version: str, hostname: str) -> dict:
        return await self._post(
            "/agent/hello", {"public_key": public_key, "version": version, "hostname": hostname}
        )

    async def lease(self, capacity: int) -> dict:
        return await self._post("/agent/lease", {"capacity": capacity})

    async def results(self, results: list[dict]) -> dict:
        return await self._post("/agent/results", {"results": results})

    async def heartbeat(self, version: str, buffered: int, dropped: int) -> dict:
        return await self._post(
            "/agent/heartbeat", {"version": version, "buffered": buffered, "dropped": dropped}
        )

    async def close(self):
        await self.http.aclose()


def _is_json(response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")
