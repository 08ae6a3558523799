"""The packager's HTTP API: HLS files with CDN cache headers, status, metrics, probes.

- `GET /hls/{space}/index.m3u8` - the space's media playlist, `Cache-Control:
  max-age=packager.playlist_cache_s` (short: it changes every segment);
- `GET /hls/{space}/{segment}.ts` - a segment, `max-age=packager.segment_cache_s,
  immutable` (long: a segment never changes, and its name is never reused);
- errors (404, 503) carry `max-age=packager.error_cache_s`, so a CDN does not keep
  a miss that is about to become a hit;
- `/v1/status` (operators only: an operator token, see `chorus.operator`), `/metrics`,
  `/healthz` (live), `/readyz` (ready: the gateway answers; `200` also while some
  space's playlist cannot be written, which its body names - see
  `chorus.packager.service` for why).

A space id in a path follows `chorus.ids` (no `.`, so no `..`): anything else is a
404 without touching the disk. Bodies and errors are bounded by `chorus.httpguard`.

Every HLS response allows any origin (`Access-Control-Allow-Origin: *`), so web
players on other hosts can fetch it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus import __version__
from chorus.httpguard import install_guards
from chorus.ids import is_space_id
from chorus.operator import OPERATOR_RESPONSES, OperatorOnly
from chorus.packager.hls import PLAYLIST_NAME, SEGMENT_NAME
from chorus.packager.service import Packager

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
"""Media type of an HLS playlist."""

SEGMENT_TYPE = "video/mp2t"
"""Media type of an MPEG-TS segment."""


def create_app(packager: Packager) -> FastAPI:
    """Build the packager's application around a `Packager` (started and stopped with the app).

    Args:
        packager: The packager.

    Returns:
        The app; `app.state.packager` is the packager.
    """
    config = packager.config.packager
    error_cache = f"public, max-age={config.error_cache_s}"

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await packager.start()
        yield
        await packager.stop()

    app = FastAPI(
        title="Chorus packager",
        version=__version__,
        summary="HLS for mass audiences: each live space as a rolling playlist of AAC segments, for a CDN.",
        lifespan=lifespan,
    )
    app.state.packager = packager
    app.state.operator_key = lambda: packager.key
    install_guards(app, config.max_body_bytes)

    def hls_file(space: str, name: str, kind: str, media_type: str, cache_control: str) -> Response:
        """Serve one HLS file, or a short-lived 404."""
        try:
            data = (packager.space_dir(space) / name).read_bytes() if name and is_space_id(space) else None
        except (OSError, ValueError):
            data = None
        if data is None:
            packager.metrics.requests.labels(kind=kind, status="404").inc()
            hint = "the space is not packaged yet, ended long ago, or has no segment yet" if kind == "playlist" \
                else "the segment left the playlist and was deleted; reload the playlist"
            return PlainTextResponse(f"no such {kind}: {hint}\n", status_code=404,
                                     headers={"Cache-Control": error_cache, "Access-Control-Allow-Origin": "*"})
        packager.metrics.requests.labels(kind=kind, status="200").inc()
        return Response(data, media_type=media_type,
                        headers={"Cache-Control": cache_control, "Access-Control-Allow-Origin": "*"})

    @app.get("/hls/{space}/index.m3u8", tags=["hls"], summary="A space's media playlist",
             responses={200: {"content": {PLAYLIST_TYPE: {}}}, 404: {"description": "No playlist (yet)."}})
    async def playlist(space: str) -> Response:
        """The rolling media playlist of a space (short cache: it advances every segment)."""
        return hls_file(space, PLAYLIST_NAME, "playlist", PLAYLIST_TYPE, f"public, max-age={config.playlist_cache_s}")

    @app.get("/hls/{space}/{segment}", tags=["hls"], summary="A media segment",
             responses={200: {"content": {SEGMENT_TYPE: {}}}, 404: {"description": "No such segment."}})
    async def segment(space: str, segment: str) -> Response:
        """One MPEG-TS segment of AAC audio (long cache: it never changes)."""
        if not SEGMENT_NAME.match(segment):
            return hls_file(space, "", "other", "text/plain", error_cache)
        return hls_file(space, segment, "segment", SEGMENT_TYPE,
                        f"public, max-age={config.segment_cache_s}, immutable")

    @app.get("/v1/status", tags=["operations"], summary="Packager status", dependencies=[OperatorOnly],
             responses=OPERATOR_RESPONSES)
    async def status() -> dict[str, Any]:
        """Every packaged space: frames, silence frames, segments, playlist age, subscription."""
        return packager.status()

    @app.get("/healthz", response_class=PlainTextResponse, tags=["operations"], summary="Liveness")
    async def healthz() -> str:
        """`ok` while the process serves requests."""
        return "ok\n"

    @app.get("/readyz", response_class=PlainTextResponse, tags=["operations"], summary="Readiness",
             responses={503: {"description": "Not ready: the gateway did not answer the last poll."}})
    async def readyz() -> Response:
        """Ready while the gateway answers the packager's polls.

        A space whose playlist cannot be written does not make the packager unready (one pod serves
        every space's HLS); the body names such spaces after `ready;`.
        """
        ready = packager.ready
        failing = packager.failing_spaces
        if not ready:
            text = "not ready: gateway unreachable\n"
        elif failing:
            text = f"ready; playlist not writable for {len(failing)} space(s): {', '.join(failing)} (see /v1/status)\n"
        else:
            text = "ready\n"
        return PlainTextResponse(text, status_code=200 if ready else 503,
                                 headers={} if ready else {"Cache-Control": error_cache})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        """Every `chorus_packager_*` metric, in the Prometheus text format."""
        for space in packager.spaces.values():
            packager.metrics.playlist_age.labels(space=space.space).set(space.playlist_age_s)
        return Response(generate_latest(packager.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        """Any other error, with the short error cache lifetime."""
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers={"Cache-Control": error_cache})

    return app
