"""The HLS packager: a space's audio as HLS (a rolling playlist and audio segments) for a CDN.

A space of a few hundred thousand listeners is cheaper to serve through a CDN
than through WebSocket fan-out. The packager subscribes to every live space like
a listener (`chorus.packager.space`), puts the speakers' frames on its own frame
clock and fills every gap with silence (`chorus.packager.slots`), encodes AAC and
writes MPEG-TS segments and a rolling media playlist (`chorus.packager.hls`),
and serves them over HTTP with the cache headers a CDN needs
(`chorus.packager.app`). Run it with `python -m chorus.packager`.
"""
