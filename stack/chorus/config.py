"""The configuration every Chorus service loads: `stack/config/chorus.yaml`.

The schema below is the single definition of every key: its type, default,
bounds and description (the handbook's configuration reference is generated
from it). A file with an unknown key, a wrong type, a value out of bounds or a
YAML syntax error is refused with one line naming the file, the line and the
key, and the service does not start.

Environment overrides: any key can be overridden by an environment variable
named `CHORUS__` + the key path in upper case joined by `__`, for example
`CHORUS__FANOUT__LISTENER_CAP=10` or `CHORUS__GATEWAY__TOKEN__TTL_S=60`. The
value is read as a YAML scalar (`10` is a number, `true` a boolean).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chorus.yamllines import KeyPath, LocatedDocument, SourceError, dotted, load_yaml

ENV_PREFIX = "CHORUS__"
"""Prefix of environment variables that override configuration keys."""

CONFIG_PATH_ENV = "CHORUS_CONFIG"
"""Environment variable naming the configuration file to load instead of the default."""

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "chorus.yaml"
"""`stack/config/chorus.yaml` in this checkout."""


class ConfigError(SourceError):
    """The configuration cannot be used; rendered as one line `path:line: key: message`."""


class _Section(BaseModel):
    """Base of every configuration section: unknown keys and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TokenConfig(_Section):
    """Join tokens: signed by the gateway, verified by every fan-out node on its own."""

    ttl_s: int = Field(
        300,
        ge=10,
        le=86400,
        description="Nominal lifetime of a join token, in seconds. A client must connect to its "
        "fan-out node before the token expires; connected sessions are not cut when it does.",
    )
    ttl_jitter_s: int = Field(
        30,
        ge=0,
        le=3600,
        description="Each token's lifetime is `ttl_s` plus or minus a random amount up to this many "
        "seconds, so a crowd that joined together does not expire together.",
    )
    key_env: str = Field(
        "CHORUS_SIGNING_KEY",
        min_length=1,
        description="Name of the environment variable holding the HMAC (HS256) signing key shared "
        "by the gateway and the fan-out nodes. Checked first.",
    )
    key_file: str = Field(
        "",
        description="File holding the signing key (e.g. a mounted Kubernetes secret), used when "
        "the `key_env` variable is unset. Empty: no file. `chorusctl up` generates a key for the "
        "run when neither is set.",
    )
    min_key_bytes: int = Field(
        32,
        ge=16,
        le=1024,
        description="Shortest signing key accepted, in bytes; a shorter key stops the service. Below 32 "
        "only on loopback: a service that binds to any other address refuses to start with it. Every key "
        "must also look random (at least 96 bits of estimated entropy; `openssl rand -hex 32`).",
    )


class GatewayConfig(_Section):
    """The gateway: the control plane over HTTP."""

    host: str = Field("127.0.0.1", min_length=1, description="Address the gateway's HTTP server binds to.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port of the gateway's HTTP API (0: any free port).")
    join_rate_per_s: float = Field(
        200.0,
        gt=0,
        le=1_000_000,
        description="Admission token bucket: joins admitted per second, sustained. A join beyond the "
        "bucket is shed with `503` and a jittered `Retry-After`.",
    )
    join_burst: int = Field(
        400, ge=1, le=10_000_000, description="Admission token bucket: its size, the most joins admitted at once."
    )
    priority_share: float = Field(
        0.1,
        ge=0,
        le=0.9,
        description="Share of the token bucket and of `max_sessions` that only hosts and speakers may "
        "use, so they are admitted ahead of listeners when a crowd arrives.",
    )
    max_sessions: int = Field(
        10_000,
        ge=1,
        le=100_000_000,
        description="Most concurrent sessions (joined or connected clients) across all spaces. "
        "Listeners are shed at `max_sessions * (1 - priority_share)`.",
    )
    retry_after_base_s: int = Field(
        1, ge=0, le=3600, description="Shortest `Retry-After` given to a shed join, in seconds."
    )
    retry_after_jitter_s: int = Field(
        4,
        ge=0,
        le=3600,
        description="A shed join's `Retry-After` is `retry_after_base_s` plus a random amount up to "
        "this many seconds, so shed clients come back spread out.",
    )
    presence_tick_ms: int = Field(
        1000,
        ge=50,
        le=60_000,
        description="Presence is pushed as aggregate counts per space once per tick, never one event "
        "per listener.",
    )
    session_connect_timeout_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="An admitted session that has not connected to its fan-out node within this "
        "many seconds is forgotten (it stops counting against `max_sessions`).",
    )
    node_timeout_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="A fan-out node that has not reported for this many seconds gets no new "
        "listeners and its sessions are forgotten.",
    )
    node_expiry_s: float = Field(
        120.0,
        gt=0,
        le=86_400,
        description="A node that has stayed stale this many seconds longer (no report for "
        "`node_timeout_s + node_expiry_s`) is forgotten: it leaves the node list, `chorusctl status` "
        "and the node metrics, so a replaced pod does not stay listed. If it reports again it "
        "registers again as a new node (an operator's drain request on it is lost).",
    )
    space_create_rate_per_s: float = Field(
        0.5,
        gt=0,
        le=10_000,
        description="Spaces one client (one source address) may create per second, sustained. Beyond "
        "it, creation is shed with `429` and `Retry-After`.",
    )
    space_create_burst: int = Field(
        10, ge=1, le=100_000, description="Spaces one client may create at once before `space_create_rate_per_s` applies."
    )
    max_live_spaces: int = Field(
        200,
        ge=1,
        le=1_000_000,
        description="Most live spaces across all clients. Creation beyond it is shed with `503` and "
        "`Retry-After` (every live space costs the packager and the nodes work).",
    )
    max_body_bytes: int = Field(
        65_536,
        ge=1024,
        le=16_777_216,
        description="Largest request body the gateway reads, in bytes; a larger one gets `413` unread.",
    )
    token: TokenConfig = Field(default_factory=TokenConfig, description="Join tokens.")


class FanoutConfig(_Section):
    """Fan-out nodes: the media path over WebSocket."""

    host: str = Field("127.0.0.1", min_length=1, description="Address fan-out nodes bind to and advertise.")
    port: int = Field(
        8090,
        ge=0,
        le=65535,
        description="WebSocket port of the first fan-out node; `chorusctl up` gives node N the port "
        "`port + N - 1` (0: every node takes any free port).",
    )
    nodes: int = Field(2, ge=1, le=64, description="How many fan-out nodes `chorusctl up` starts.")
    listener_cap: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Most listeners one fan-out node accepts; beyond it the node refuses the "
        "connection with `503`.",
    )
    headroom: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Share of a node's `listener_cap` the gateway keeps free when placing listeners, "
        "for reconnects; a node with less headroom than this is full and gets no new listeners.",
    )
    frames_per_message: int = Field(
        2,
        ge=1,
        le=50,
        description="Audio frames sent to a listener in one WebSocket message. More frames cost "
        "fewer messages and add `(frames_per_message - 1) * audio.frame_ms` of delay.",
    )
    send_queue_limit: int = Field(
        50,
        ge=1,
        le=100_000,
        description="Most messages a listener's send queue may hold beyond the socket buffer. A "
        "listener past it is dropped and counted, so one slow listener never slows the room.",
    )
    socket_send_buffer_bytes: int = Field(
        4096,
        ge=0,
        le=4_194_304,
        description="Kernel send buffer (SO_SNDBUF) of every receiving connection - listeners and edge "
        "subscriptions - set once connected; Linux doubles it for bookkeeping. Kept small so a listener "
        "that stops reading fills it in seconds and `send_queue_limit` then drops it: left to the "
        "kernel's autotuning it grows to megabytes and holds minutes of 20 ms frames. A receiver needs "
        "only one stream's bandwidth-delay product (32 kbit/s x 1 s RTT is 4 KB). 0 leaves the kernel's "
        "default.",
    )
    heartbeat_interval_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="WebSocket ping interval; a client that does not answer within the same time "
        "is disconnected.",
    )
    report_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often a fan-out node reports its load to the gateway (and learns whether "
        "to drain).",
    )
    drain_spread_s: float = Field(
        2.0,
        ge=0,
        le=600,
        description="A draining node spreads its reconnect instructions over this many seconds, so "
        "its listeners do not return to the gateway all at once.",
    )
    drain_grace_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="After the reconnect instructions, a draining node closes connections still "
        "open after this many seconds.",
    )
    max_message_bytes: int = Field(
        65536, ge=1024, le=16_777_216, description="Largest WebSocket message a speaker may send, in bytes."
    )
    edges: int = Field(
        0,
        ge=0,
        le=256,
        description="How many edge nodes `chorusctl up` starts besides the `nodes` origins (0: no "
        "cascade). Once an edge is registered the gateway places listeners on edges; origins keep "
        "the speakers and the edges' subscriptions. An edge subscribes to a space's origin like a "
        "listener and relays its frames to its own listeners. Edge N listens on port "
        "`port + nodes + N - 1`.",
    )
    upstream_retry_max_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="An edge whose subscription to an origin drops reconnects with jittered "
        "exponential backoff, waiting at most this many seconds between attempts.",
    )


class AudioConfig(_Section):
    """Audio format of the media path."""

    sample_rate: Literal[8000, 12000, 16000, 24000, 48000] = Field(
        48000, description="Sample rate of the audio, in Hz (a rate Opus supports)."
    )
    channels: Literal[1] = Field(1, description="Audio channels; Chorus carries mono speech.")
    frame_ms: Literal[10, 20, 40, 60] = Field(
        20, description="Duration of one audio frame, in milliseconds (an Opus frame size)."
    )
    bitrate: int = Field(32000, ge=6000, le=510_000, description="Opus encoder bitrate, in bits per second.")

    @property
    def frame_samples(self) -> int:
        """Samples in one frame (e.g. 960 at 48 kHz and 20 ms)."""
        return self.sample_rate * self.frame_ms // 1000


class PackagerConfig(_Section):
    """The HLS packager: a space's audio as HLS for a CDN, for audiences too large for WebSocket."""

    host: str = Field("127.0.0.1", min_length=1, description="Address the packager's HTTP server binds to.")
    port: int = Field(8070, ge=0, le=65535, description="TCP port of the packager's HTTP server (0: any free port).")
    segment_s: float = Field(
        2.0,
        ge=0.5,
        le=30,
        description="Duration of one HLS media segment, in seconds. Players start about three "
        "segments behind live, so shorter segments mean less delay and more requests.",
    )
    playlist_size: int = Field(
        6,
        ge=2,
        le=100,
        description="Segments listed in the rolling media playlist; older segments are deleted.",
    )
    output_dir: str = Field(
        "",
        description="Directory the packager writes playlists and segments into, one sub-directory "
        "per space. Empty: a temporary directory for the run, deleted at exit.",
    )
    playlist_cache_s: int = Field(
        1,
        ge=0,
        le=60,
        description="`Cache-Control: max-age` on media playlists, in seconds. Keep it under "
        "`segment_s`, or the CDN serves a playlist that stopped advancing.",
    )
    segment_cache_s: int = Field(
        86400,
        ge=60,
        le=31_536_000,
        description="`Cache-Control: max-age` on segments, in seconds; a segment never changes once written.",
    )
    error_cache_s: int = Field(
        1,
        ge=0,
        le=60,
        description="`Cache-Control: max-age` on errors (404, 503), so a CDN does not keep a miss "
        "that is about to become a hit.",
    )
    aac_bitrate: int = Field(
        64000, ge=16000, le=320_000, description="Bitrate of the AAC audio in HLS segments, in bits per second."
    )
    silence_threshold_dbfs: float = Field(
        -60.0,
        ge=-120,
        le=0,
        description="A speaker's frame whose level is below this (dB relative to full scale) counts "
        "as a silence frame, as does a frame the packager had to invent because none arrived.",
    )
    jitter_ms: int = Field(
        200,
        ge=20,
        le=5000,
        description="How long the packager waits for a frame before filling its slot with silence: "
        "it writes audio this far behind the live edge, so late frames still make it.",
    )
    poll_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the packager asks the gateway for live spaces to start (and ended "
        "ones to stop) packaging.",
    )
    hls_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of a large audience expected to listen over HLS through the CDN instead "
        "of the WebSocket path; `chorusctl capacity` sizes the fan-out for the rest.",
    )
    retry_max_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="The packager retries with jittered exponential backoff - joining a space again after "
        "its stream drops, and opening a fresh playlist after a failed write - waiting at most this many "
        "seconds between attempts.",
    )
    max_spaces: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Most spaces packaged at once (oldest first). Each costs an AAC encoder and a frame clock "
        "on the packager's one event loop; past this many its health and playlists would starve, so newer "
        "spaces wait (`chorus_packager_spaces_waiting`) until one ends.",
    )
    start_per_poll: int = Field(
        5,
        ge=1,
        le=10_000,
        description="Most new spaces the packager starts packaging per poll, so a burst of new spaces is "
        "taken on over several polls rather than in one go.",
    )
    max_body_bytes: int = Field(
        16_384,
        ge=1024,
        le=16_777_216,
        description="Largest request body the packager reads, in bytes; a larger one gets `413` unread.",
    )


class LoggingConfig(_Section):
    """Structured logs: one line per event, with the service, node and space in every line."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    format: Literal["kv", "json"] = Field(
        "kv", description="`kv`: one `key=value` line per event; `json`: one JSON object per line."
    )


class SupervisorConfig(_Section):
    """`chorusctl up`: how it keeps the local stack running when a service process dies."""

    restart_delay_s: float = Field(
        0.5,
        ge=0,
        le=600,
        description="Wait before restarting a service process that died; doubled after each death "
        "that follows a short run (see `stable_after_s`), up to `restart_delay_max_s`. A drill that "
        "needs a node down long enough for its alert to fire raises it for that run.",
    )
    restart_delay_max_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Longest wait between two restarts of a service that keeps dying (the backoff's cap; "
        "never below `restart_delay_s`).",
    )
    stable_after_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A service that ran this long before dying is restarted after `restart_delay_s` "
        "again: its backoff starts over.",
    )
    gateway_max_restarts: int = Field(
        3,
        ge=0,
        le=100,
        description="Restarts of the gateway in a row (each dying before `stable_after_s`) before "
        "`chorusctl up` gives up, stops every service and exits 1: without a gateway nothing can be "
        "joined. Fan-out nodes and the packager are restarted without limit.",
    )
    stop_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="On Ctrl-C or SIGTERM, how long each service gets to stop cleanly before its "
        "process group is killed.",
    )


class ChorusConfig(_Section):
    """The whole configuration of Chorus (`stack/config/chorus.yaml`)."""

    gateway: GatewayConfig = Field(default_factory=GatewayConfig, description="The gateway (control plane).")
    fanout: FanoutConfig = Field(default_factory=FanoutConfig, description="Fan-out nodes (media path).")
    audio: AudioConfig = Field(default_factory=AudioConfig, description="Audio format.")
    packager: PackagerConfig = Field(default_factory=PackagerConfig, description="The HLS packager.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Structured logs.")
    supervisor: SupervisorConfig = Field(
        default_factory=SupervisorConfig, description="`chorusctl up`: restarting the local services."
    )

    @property
    def gateway_url(self) -> str:
        """The gateway's base URL as clients reach it, e.g. `http://127.0.0.1:8080`."""
        return f"http://{self.gateway.host}:{self.gateway.port}"


def default_config_path() -> Path:
    """The configuration file to load when none is named: `$CHORUS_CONFIG`, else the checkout's own.

    Returns:
        The path.
    """
    named = os.environ.get(CONFIG_PATH_ENV)
    return Path(named) if named else DEFAULT_CONFIG_PATH


def _apply_env(data: dict[str, Any], env: Mapping[str, str], path: Path) -> dict[str, str]:
    """Apply `CHORUS__...` overrides to `data` in place; return key path -> variable name."""
    applied: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name} does not name a key", path, None, name)
        try:
            value = yaml.safe_load(env[name]) if env[name].strip() else ""
        except yaml.YAMLError:
            value = env[name]
        node: dict[str, Any] = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} names a key inside a value", path, None, ".".join(parts))
            node = child
        node[parts[-1]] = value
        applied[".".join(parts)] = name
    return applied


def _first_error(exc: ValidationError, document: LocatedDocument, from_env: dict[str, str]) -> ConfigError:
    """Turn pydantic's errors into one ConfigError for the earliest line at fault."""
    problems: list[tuple[int, str, str, KeyPath]] = []
    for error in exc.errors():
        keys: KeyPath = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against the configuration reference"
        else:
            message = error["msg"]
            if "input" in error and not isinstance(error["input"], dict | list):
                message += f" (got {error['input']!r})"
        problems.append((document.line_of(keys), dotted(keys), message, keys))
    problems.sort(key=lambda p: p[0])
    line, key, message, _ = problems[0]
    env_name = from_env.get(key)
    if env_name is not None:
        return ConfigError(f"{message} (set by environment variable {env_name})", document.path, None, key)
    more = f" ({len(problems) - 1} more problem(s) after this one)" if len(problems) > 1 else ""
    return ConfigError(message + more, document.path, line, key)


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> ChorusConfig:
    """Load and validate the configuration, with environment overrides applied.

    Args:
        path: The YAML file; `None` loads `default_config_path()`.
        env: The environment to read `CHORUS__...` overrides from; `None` uses `os.environ`.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: The file is missing or invalid, or an override is; the message is one line
            `path:line: key: message`.
    """
    config_path = Path(path) if path is not None else default_config_path()
    try:
        document = load_yaml(config_path)
    except SourceError as exc:
        raise ConfigError(exc.message, exc.path, exc.line, exc.key) from None
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping of sections (gateway:, fanout:, ...)", config_path, 1)
    from_env = _apply_env(data, os.environ if env is None else env, config_path)
    try:
        return ChorusConfig.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, document, from_env) from None
