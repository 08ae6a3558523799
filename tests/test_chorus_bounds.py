"""Every input is bounded, against the real services on loopback (issue 10, "Bounded input").

Space creation (per client and in total), the packager's work, space ids (one rule, no `..`),
request bodies (413), error bodies (no echo), titles (no control characters) and how `chorusctl`
prints them, signing keys (entropy, no weakened settings beyond loopback), WebSocket input
(binary on the presence socket, deep JSON from a speaker) and slow clients (slow-loris).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import logging
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chorus.client import GatewayClient, media_url
from chorus.gateway.server import GatewayServer
from chorus.ids import is_space_id
from chorus.packager.server import PackagerServer
from chorus.packager.service import Packager
from chorus.protocol import CLOSE_BAD_MESSAGE
from chorus.text import has_control_characters, printable
from chorus.tokens import SigningKeyError, check_key_policy, check_key_strength
from chorus_support import KEY, clean_env, config_with, local_stack, metric_sum, real_stack
from conftest import BIN

HEALTH_TIMEOUT_S = 5.0
"""The kubelet's probe timeout is 1 s; five times that tolerates a test machine shared with other work."""

LIMIT = 10
"""`packager.max_spaces` in the starvation test (small, so it holds on a loaded machine)."""

SLOW_LORIS_BOUND_S = 20.0
"""A half-sent request must be cut well before this (the services cut it at 10 s)."""


# ----------------------------------------------------------------------------- space creation


def test_space_creation_is_bounded_per_client_and_in_total() -> None:
    config = config_with(gateway={"space_create_burst": 10, "space_create_rate_per_s": 0.01})

    async def scenario() -> None:
        server = GatewayServer(config, KEY, host="127.0.0.1", port=0)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                started = time.monotonic()
                answers = await asyncio.gather(*(http.post("/v1/spaces", json={"title": f"s{i}", "host": "h"})
                                                 for i in range(300)))
                took = time.monotonic() - started
                codes = [a.status_code for a in answers]
                assert codes.count(201) == 10 and codes.count(429) == 290, (codes.count(201), took)
                shed = next(a for a in answers if a.status_code == 429)
                assert int(shed.headers["retry-after"]) >= 1 and "faster than allowed" in shed.json()["detail"]
                metrics = (await http.get("/metrics")).text
                assert metric_sum(metrics, "chorus_gateway_space_creations_shed_total", status="429") == 290
        finally:
            await server.stop()
        capped = GatewayServer(config_with(gateway={"max_live_spaces": 3}), KEY, host="127.0.0.1", port=0)
        await capped.start()
        try:
            async with httpx.AsyncClient(base_url=capped.url, timeout=10) as http:
                codes = [(await http.post("/v1/spaces", json={"title": "t", "host": "h"})).status_code for _ in range(4)]
                assert codes == [201, 201, 201, 503]
                full = await http.post("/v1/spaces", json={"title": "t", "host": "h"})
                assert full.status_code == 503 and int(full.headers["retry-after"]) >= 1
        finally:
            await capped.stop()

    asyncio.run(scenario())


def test_300_new_spaces_do_not_starve_the_packagers_health() -> None:
    overrides = {"gateway__space_create_burst": 1000, "gateway__space_create_rate_per_s": 1000,
                 "gateway__max_live_spaces": 1000, "packager__poll_interval_s": 0.2, "packager__max_spaces": LIMIT}
    with real_stack(nodes=1, packager=True, **overrides) as stack:
        packager = f"http://127.0.0.1:{stack.env['CHORUS__PACKAGER__PORT']}"

        async def create() -> float:
            async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
                started = time.monotonic()
                answers = await asyncio.gather(*(http.post("/v1/spaces", json={"title": f"s{i}", "host": "h"})
                                                 for i in range(300)))
                assert all(a.status_code == 201 for a in answers)
                return time.monotonic() - started

        took = asyncio.run(create())
        latencies = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert httpx.get(f"{packager}/healthz", timeout=HEALTH_TIMEOUT_S).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.2)
        slowest = max(latencies)
        metrics = httpx.get(f"{packager}/metrics", timeout=5).text
        assert metric_sum(metrics, "chorus_packager_spaces") == LIMIT
        assert metric_sum(metrics, "chorus_packager_spaces_waiting") == 300 - metric_sum(metrics, "chorus_packager_spaces")
        print(f"300 spaces created in {took:.2f} s; /healthz median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms, "
              f"slowest {slowest * 1000:.0f} ms")


# ----------------------------------------------------------------------------- space ids and paths


@pytest.mark.parametrize("text", ["..", ".", "sp-1/..", "sp-1\n", "", "a" * 65, "%2e%2e", "-sp", "sp 1", "sp.1"])
def test_space_ids_refuse_dots_slashes_and_control_characters(text: str) -> None:
    assert not is_space_id(text)


def _raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (like `curl --path-as-is`); the status and body."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _raw_post(url: str, headers: dict[str, str], send_bytes: int) -> tuple[int, bytes]:
    """POST to `url` with `headers`, sending `send_bytes` of body (chunked if so announced); the status and body."""
    import socket

    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(f"POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{head}\r\n".encode())
        chunked = headers.get("Transfer-Encoding") == "chunked"
        with contextlib.suppress(OSError):
            for _ in range(send_bytes // 8192):
                piece = b"A" * 8192
                conn.sendall(b"2000\r\n" + piece + b"\r\n" if chunked else piece)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    return int(head_bytes.split()[1]), body


def test_the_packager_serves_nothing_outside_its_output(tmp_path: Path) -> None:
    (tmp_path / "index.m3u8").write_text("#EXTM3U SECRET playlist one level up\n")
    (tmp_path / "x-1.ts").write_text("SECRET segment one level up")
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack:
            packager = Packager(config, stack.url, output_dir=tmp_path / "hls", key=KEY)
            server = PackagerServer(packager, host="127.0.0.1", port=0)
            await server.start()
            try:
                for path in ("/hls/../index.m3u8", "/hls/%2e%2e/x-1.ts", "/hls/%2E%2E/index.m3u8", "/hls/./index.m3u8",
                             "/hls/..%2findex.m3u8", "/hls/%2e%2e%2f%2e%2e/index.m3u8"):
                    status, body = await asyncio.to_thread(_raw_get, server.port, path)
                    assert status in (400, 404) and b"SECRET" not in body, (path, status, body[:80])
            finally:
                await server.stop()

    asyncio.run(scenario())


# ----------------------------------------------------------------------------- bodies and errors


def test_bodies_are_limited_and_errors_never_echo_input(tmp_path: Path) -> None:
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack:
            packager = Packager(config, stack.url, output_dir=tmp_path / "hls", key=KEY)
            server = PackagerServer(packager, host="127.0.0.1", port=0)
            await server.start()
            try:
                for url in (f"{stack.url}/v1/spaces", f"{server.url}/v1/status", f"{stack.url}/healthz"):
                    # 10 MB announced, 64 KiB sent: the answer comes before the rest is read (as curl's
                    # `Expect: 100-continue` would see it)
                    status, body = await asyncio.to_thread(_raw_post, url, {"Content-Length": "10000000"}, 65_536)
                    assert status == 413 and len(body) < 1000, (url, status, body[:200])
                # no Content-Length: the body is counted as it arrives
                status, _ = await asyncio.to_thread(_raw_post, f"{stack.url}/v1/spaces",
                                                    {"Transfer-Encoding": "chunked"}, 200_000)
                assert status == 413
                async with httpx.AsyncClient(timeout=20) as http:
                    big = "B" * 50_000  # under the body limit, over the title's 200 characters
                    invalid = await http.post(f"{stack.url}/v1/spaces", json={"title": big, "host": "h\x1b"})
                    assert invalid.status_code == 422
                    assert len(invalid.content) < 2000 and "BBBB" not in invalid.text and "\\u001b" not in invalid.text
                    assert {tuple(p["loc"]) for p in invalid.json()["detail"]} == {("body", "title"), ("body", "host")}
                    broken = await http.post(f"{stack.url}/v1/spaces", content=b'{"title": "' + b"C" * 30_000,
                                             headers={"content-type": "application/json"})
                    assert broken.status_code == 422 and "CCCC" not in broken.text
            finally:
                await server.stop()

    asyncio.run(scenario())


# ----------------------------------------------------------------------------- titles and terminals


@pytest.mark.parametrize("title", ["bell\x07", "esc\x1b[2J", "cr\roverwrite", "nul\x00", "del\x7f", "csi\x9b",
                                   "rtl\u202eevil", "line\u2028sep", "tab\there"])
def test_titles_with_control_characters_are_refused(title: str) -> None:
    from fastapi.testclient import TestClient

    from chorus.gateway.app import create_app

    with TestClient(create_app(config_with(), KEY)) as api:
        answer = api.post("/v1/spaces", json={"title": title, "host": "h"})
        assert answer.status_code == 422 and title not in answer.text
        assert api.post("/v1/spaces", json={"title": "Town hall: Q&A — ünïcode ok", "host": "h"}).status_code == 201


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert printable("a\x1b[2Jb\x07c\rd\x00\u202e") == "a\\x1b[2Jb\\x07c\\rd\\x00\\u202e".replace("\\r", "\\x0d")
    assert printable("Town hall — ünïcode") == "Town hall — ünïcode"
    assert has_control_characters("x\x85") and not has_control_characters("plain")


@pytest.fixture()
def hostile_gateway() -> Iterator[str]:
    """A gateway impostor whose space list carries terminal escapes (as an old or hostile gateway might)."""
    space = {"id": "sp-0badf00d", "title": "pwn\x1b]0;owned\x07\x1b[2J\rTitle", "host": "eve\x1b[31m", "live": True,
             "created_at": 0, "ended_at": None, "speakers": ["s\x07"], "hands": [], "node": None,
             "presence": {"space": "sp-0badf00d", "tick": 1, "listeners": 0, "speakers": 0, "hands": 0, "live": True}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.dumps([space] if self.path.startswith("/v1/spaces?") else space).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_chorusctl_prints_untrusted_text_safely(hostile_gateway: str) -> None:
    for command in (["spaces", "list"], ["spaces", "show", "sp-0badf00d"]):
        result = subprocess.run([str(BIN / "chorusctl"), *command, "--gateway", hostile_gateway], env=clean_env(),
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert not has_control_characters(result.stdout.replace("\n", "")), repr(result.stdout)
        assert "\\x1b]0;owned\\x07" in result.stdout and "eve\\x1b[31m" in result.stdout


# ----------------------------------------------------------------------------- keys


def test_guessable_keys_and_weakened_settings_beyond_loopback_are_refused() -> None:
    token = config_with().gateway.token
    for weak in (b"a" * 32, b"ab" * 16, b"password" * 4, b"0" * 64):
        with pytest.raises(SigningKeyError, match="guessable"):
            check_key_strength(weak)
    for strong in (KEY, b"0123456789abcdef" * 2, string.ascii_letters[:24].encode()):
        check_key_strength(strong)
    weakened = token.model_copy(update={"min_key_bytes": 16})
    for host in ("0.0.0.0", "192.168.1.10", "::", "chorus.example.org"):
        with pytest.raises(SigningKeyError, match="not loopback"):
            check_key_policy(weakened, host)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_key_policy(weakened, host)
    check_key_policy(token, "0.0.0.0")


@pytest.mark.parametrize("service", ["gateway", "fanout", "packager"])
def test_services_refuse_to_start_with_a_guessable_or_weakened_key(service: str) -> None:
    env = clean_env() | {"CHORUS_SIGNING_KEY": "a" * 32}
    guessable = subprocess.run([sys.executable, "-m", f"chorus.{service}", "--port", "0"], env=env,
                               capture_output=True, text=True, timeout=30)
    assert guessable.returncode == 2 and "guessable" in guessable.stderr and "Traceback" not in guessable.stderr
    env = clean_env() | {"CHORUS_SIGNING_KEY": string.ascii_letters[:24], "CHORUS__GATEWAY__TOKEN__MIN_KEY_BYTES": "16"}
    weakened = subprocess.run([sys.executable, "-m", f"chorus.{service}", "--host", "0.0.0.0", "--port", "0"], env=env,
                              capture_output=True, text=True, timeout=30)
    assert weakened.returncode == 2 and "not loopback" in weakened.stderr, weakened.stderr
    assert "Traceback" not in weakened.stderr


# ----------------------------------------------------------------------------- WebSockets and slow clients


def test_binary_presence_frames_and_deep_json_are_closed_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    config = config_with()

    async def scenario() -> None:
        async with local_stack(config) as stack, GatewayClient(stack.url) as gateway:
            space = (await gateway.create_space("ws", "hana"))["id"]
            presence_url = stack.url.replace("http://", "ws://") + f"/v1/spaces/{space}/presence/ws"
            async with connect(presence_url, open_timeout=5) as socket_:
                await socket_.recv()
                await socket_.send(b"\x00\x01binary")
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(socket_.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003 and closed.value.rcvd.reason
            grant = await gateway.join(space, "hana", "host")
            async with connect(media_url(grant), open_timeout=5, max_size=None) as speaker:
                await speaker.recv()  # welcome
                await speaker.send("[" * 30_000 + "]" * 30_000)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(speaker.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_BAD_MESSAGE
            assert closed.value.rcvd.reason == "malformed control message"

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.exc_info or ''}" for r in caplog.records)
    assert "KeyError" not in logged and "RecursionError" not in logged and "Traceback" not in logged


def test_a_slow_loris_client_is_cut_like_on_the_fan_out(tmp_path: Path) -> None:
    config = config_with()

    async def until_cut(url: str) -> float:
        return await asyncio.wait_for(_loop_until_cut(url), SLOW_LORIS_BOUND_S + 5)

    async def _loop_until_cut(url: str) -> float:
        host, port = url.removeprefix("http://").removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            while time.monotonic() - started < SLOW_LORIS_BOUND_S + 2:
                writer.write(b"X-Slow: 1\r\n")  # one header a second, never the blank line
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                        break
                except TimeoutError:
                    continue
        except ConnectionError:
            pass
        finally:
            writer.close()
        return time.monotonic() - started

    async def scenario() -> None:
        async with local_stack(config) as stack:
            packager = Packager(config, stack.url, output_dir=tmp_path / "hls", key=KEY)
            server = PackagerServer(packager, host="127.0.0.1", port=0)
            await server.start()
            try:
                cut = await asyncio.gather(until_cut(stack.url), until_cut(server.url), until_cut(stack.nodes[0].url))
            finally:
                await server.stop()
            for name, took in zip(("gateway", "packager", "fan-out"), cut):
                assert took < SLOW_LORIS_BOUND_S, f"{name} kept a slow-loris connection {took:.1f} s"

    asyncio.run(scenario())
