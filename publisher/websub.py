"""WebSub publishing: tell the hubs which feeds changed, so subscribers hear in seconds.

The feeds declare the hubs (`<link rel="hub">`); after a build that changed feeds, each hub
gets `hub.mode=publish` for each changed feed URL. A hub that is down is logged and never
fails the build: readers still poll.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

log = logging.getLogger("publisher.websub")


def ping(hubs: Iterable[str], feed_urls: Iterable[str], timeout: float = 10.0) -> dict[str, str]:
    """POST a publish notification per (hub, feed); returns hub -> 'ok' or the error."""
    feed_urls = sorted(set(feed_urls))
    results = {}
    for hub in hubs:
        errors = []
        for url in feed_urls:
            body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": url}).encode()
            request = urllib.request.Request(
                hub, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    response.read(1024)
            except (urllib.error.URLError, OSError) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
        results[hub] = "; ".join(errors) or "ok"
        if errors:
            log.warning("websub ping failed hub=%s errors=%d first=%s", hub, len(errors), errors[0])
        else:
            log.info("websub ping hub=%s feeds=%d", hub, len(feed_urls))
    return results
