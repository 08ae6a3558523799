"""Admission control: who may join now, and when a shed client should come back.

A token bucket refills at `gateway.join_rate_per_s` up to `gateway.join_burst`;
each admitted join takes one token. A share of the bucket
(`gateway.priority_share`) is reserved for hosts, speakers and the packager:
listeners are shed once the bucket is down to that reserve, the others only when
it is empty. The same share of `gateway.max_sessions` is reserved the same way. A shed
join is told to retry after a jittered delay so that a crowd comes back spread out.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from chorus.config import GatewayConfig
from chorus.protocol import Role

PRIORITY_ROLES = frozenset({"host", "speaker", "packager"})
"""Roles admitted ahead of listeners: hosts and speakers (without them there is nothing to hear)
and the packager (without it every HLS listener hears dead air)."""


class TokenBucket:
    """A token bucket.

    Args:
        rate_per_s: Tokens added per second.
        burst: Capacity; the bucket starts full.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        """Add the tokens earned since the last call."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now."""
        self._refill()
        return self._tokens

    def try_take(self, floor: float = 0.0) -> bool:
        """Take one token if that leaves at least `floor` in the bucket.

        Args:
            floor: Tokens that must remain (a reserve for others).

        Returns:
            Whether a token was taken.
        """
        self._refill()
        if self._tokens - 1.0 >= floor - 1e-9:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class Decision:
    """An admission decision.

    Attributes:
        admitted: Whether the join may proceed.
        reason: `ok`, `rate` (the token bucket is empty for this role) or `sessions`
            (the session cap for this role is reached).
    """

    admitted: bool
    reason: str


class Admission:
    """Decides joins with a shared token bucket and session cap, hosts and speakers first.

    Args:
        config: The `gateway` configuration section.
        clock: Monotonic clock in seconds.
        rng: Random source for the `Retry-After` jitter.
    """

    def __init__(
        self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.bucket = TokenBucket(config.join_rate_per_s, config.join_burst, clock)
        self.reserve_tokens = config.join_burst * config.priority_share
        self.listener_session_cap = math.floor(config.max_sessions * (1 - config.priority_share))
        self._rng = rng or random.Random()

    def decide(self, role: Role, sessions: int) -> Decision:
        """Admit or shed one join.

        Args:
            role: The role asked for.
            sessions: Concurrent sessions now.

        Returns:
            The decision; an admitted join has taken a token.
        """
        priority = role in PRIORITY_ROLES
        cap = self.config.max_sessions if priority else self.listener_session_cap
        if sessions >= cap:
            return Decision(False, "sessions")
        if not self.bucket.try_take(0.0 if priority else self.reserve_tokens):
            return Decision(False, "rate")
        return Decision(True, "ok")

    def retry_after_s(self) -> float:
        """A jittered delay for a shed client: `retry_after_base_s` plus up to `retry_after_jitter_s`.

        Returns:
            Seconds, at least 0.
        """
        return self.config.retry_after_base_s + self._rng.uniform(0, self.config.retry_after_jitter_s)
