"""Single-use join tokens: the `jti`s a fan-out node has admitted, remembered until they expire.

A join token names its session (`jti`). A node admits each `jti` once: a second connection
with the same token - at the same time, or after the first disconnected - is refused (`401`,
counted in `chorus_fanout_token_replays_total`), so one admitted join cannot open many media
connections and bypass admission control. Clients rejoin through the gateway for a new token,
as they already do after any lost connection.

Memory is bounded twice: a `jti` is forgotten once its token has expired (plus the
verification leeway), since an expired token is refused anyway; and at most `capacity` are
remembered, the soonest-expiring forgotten first when a flood of valid tokens arrives.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

DEFAULT_CAPACITY = 200_000
"""Most `jti`s a node remembers (about 20 MB); far above what one node admits in a token lifetime."""

LEEWAY_S = 2.0
"""Seconds past `exp` a token still verifies (the clock-skew leeway of `chorus.tokens.verify_join_token`)."""


class AdmittedTokens:
    """The `jti`s admitted on one node, each until its token expires.

    Args:
        capacity: Most remembered at once.
        clock: Wall clock in seconds since the epoch (token `exp` is in the same unit).
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def admit(self, jti: str, expires_at: float) -> bool:
        """Record `jti` as admitted, unless it already was.

        Args:
            jti: The token's id (its session).
            expires_at: The token's `exp`.

        Returns:
            `True` the first time (admit the connection), `False` for a replay (refuse it).
        """
        self._forget_expired()
        if jti in self._expiry:
            return False
        while len(self._expiry) >= self.capacity:
            self._forget_soonest()
        self._expiry[jti] = expires_at
        heapq.heappush(self._heap, (expires_at, jti))
        return True

    def _forget_expired(self) -> None:
        """Drop every `jti` whose token can no longer verify."""
        horizon = self._clock() - LEEWAY_S
        while self._heap and self._heap[0][0] < horizon:
            self._forget_soonest()

    def _forget_soonest(self) -> None:
        """Drop the `jti` whose token expires first."""
        _expires, jti = heapq.heappop(self._heap)
        self._expiry.pop(jti, None)
