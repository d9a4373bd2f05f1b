"""Which proxy carries a request: ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY``.

Company networks reach the internet through a proxy named by these variables (or
their lower-case forms, which win when both are set, as in curl and urllib). None
of the bot's HTTP stacks honoured them as configured: aiohttp does only with
``trust_env``, which looks the environment and ``~/.netrc`` up again, on a worker
thread, for every request (a thread hop per status query, the bot's hot path), and
slack-sdk reads ``HTTPS_PROXY`` but ignores ``NO_PROXY``. So the environment is
read once, when the bot starts, and the answer is kept per origin.

``https://`` and ``wss://`` targets use ``HTTPS_PROXY``, ``http://`` and ``ws://``
ones ``HTTP_PROXY``; a host listed in ``NO_PROXY`` (a name or a domain suffix,
comma-separated, ``*`` for all) is reached directly. Credentials in a proxy URL
(``http://user:pass@proxy:3128``) become its ``Proxy-Authorization`` and are never
logged.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass

import aiohttp
import yarl

from bot.errors import ConfigError

log = logging.getLogger(__name__)

# Which variable (as urllib names them: ``https`` for HTTPS_PROXY) serves a scheme.
_VARIABLE_FOR_SCHEME = {"https": "https", "wss": "https", "http": "http", "ws": "http"}
_PROXY_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class Route:
    """How to reach one origin: through ``proxy`` (with ``auth``), or directly."""

    proxy: yarl.URL | None = None
    auth: aiohttp.BasicAuth | None = None


DIRECT = Route()


def _parse_proxy(variable: str, value: str) -> Route:
    # curl and pip accept ``proxy:3128``; yarl would read "proxy" as the scheme.
    url = yarl.URL(value if "://" in value else f"http://{value}")
    if url.scheme not in _PROXY_SCHEMES or not url.host:
        raise ConfigError(
            f"{variable.upper()}_PROXY must be an http:// or https:// proxy URL "
            f"(got a {url.scheme}: URL)."
        )
    auth = aiohttp.BasicAuth.from_url(url) if url.user else None
    return Route(proxy=url.with_user(None), auth=auth)


class Proxies:
    """The proxy settings of this process's environment, decided once per origin."""

    def __init__(self) -> None:
        found = urllib.request.getproxies_environment()
        self._proxies = {
            name: _parse_proxy(name, found[name])
            for name in _PROXY_SCHEMES
            if name in found
        }
        # (scheme, host, port): a handful of origins (the relay, its video CDN, the
        # chat APIs), each decided once; a lookup is all a status query costs.
        self._routes: dict[tuple[str, str | None, int | None], Route] = {}

    def go_direct(self, origin: str) -> None:
        """Reach ``origin`` (a URL; only its scheme, host and port count) directly,
        whatever the variables say (the built-in simulator, in this process)."""
        self._routes[self._key(yarl.URL(origin))] = DIRECT

    def route(self, url: yarl.URL) -> Route:
        """The proxy for ``url``'s origin, or ``DIRECT``."""
        key = self._key(url)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = self._decide(url)
        return route

    def proxy_url(self, url: str) -> str | None:
        """``route`` as the ``proxy=`` string that discord.py and slack-sdk take."""
        proxy = self.route(yarl.URL(url)).proxy
        return None if proxy is None else str(proxy)

    @staticmethod
    def _key(url: yarl.URL) -> tuple[str, str | None, int | None]:
        return (url.scheme, url.raw_host, url.port)

    def _decide(self, url: yarl.URL) -> Route:
        variable = _VARIABLE_FOR_SCHEME.get(url.scheme)
        route = self._proxies.get(variable) if variable else None
        # urllib's reading of NO_PROXY (names, domain suffixes, "*"), as curl's.
        if route is None or urllib.request.proxy_bypass(url.raw_host or ""):
            route = DIRECT
        if self._proxies:
            where = "directly" if route.proxy is None else f"through {route.proxy}"
            log.info("requests to %s go %s", url.origin(), where)
        return route


def proxy_middleware(proxies: Proxies) -> aiohttp.ClientMiddlewareType:
    """An aiohttp client middleware that sends each request the way ``proxies`` says.

    It runs after the caller picked its ``proxy=`` and before the connection is
    chosen, so its answer is the one that counts, also in sessions handed to SDKs
    that pick a proxy themselves (slack-sdk sends every request to
    ``HTTPS_PROXY``, ``NO_PROXY`` or not). Per request it costs a dict lookup.
    """

    async def route(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        chosen = proxies.route(request.url)
        # Credentials go on the request, not as proxy_auth= per call (deprecated
        # in aiohttp 3.14) nor as proxy_headers (sent only in a CONNECT, so
        # never for http:// targets).
        request.update_proxy(chosen.proxy, chosen.auth, request.proxy_headers)
        return await handler(request)

    return route


def routed_session(
    proxies: Proxies, *, trace_configs: list[aiohttp.TraceConfig] | None = None
) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` whose every request follows ``proxies``
    (``trace_configs``: aiohttp's request hooks, e.g. the metrics' call counter)."""
    return aiohttp.ClientSession(
        middlewares=(proxy_middleware(proxies),), trace_configs=trace_configs
    )
