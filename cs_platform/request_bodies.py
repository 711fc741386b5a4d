"""Bounded request bodies: JSON nested no deeper than a limit, compressed bodies decoded under a
size cap. The raw size of every body is capped by MAX_CONTENT_LENGTH (and per endpoint by
`request.max_content_length`), which Werkzeug enforces on chunked bodies too."""

from __future__ import annotations

import json
import zlib
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

MAX_JSON_DEPTH = 64
# zlib window bits: 16 + 15 reads a gzip wrapper, 32 + 15 detects zlib or gzip ("deflate" is
# sent both ways in the wild).
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}


class JSONTooDeepError(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH (a ValueError, so Flask answers 400)."""


def json_depth(document: Any) -> int:
    """How deeply objects and arrays nest in a parsed document (a scalar is depth 0)."""
    depth, level = 0, [(document, 0)]
    while level:
        node, at = level.pop()
        if isinstance(node, dict | list):
            depth = max(depth, at + 1)
            children = node.values() if isinstance(node, dict) else node
            level.extend((child, at + 1) for child in children)
    return depth


def loads_bounded(text: str | bytes, **kwargs: Any) -> Any:
    """json.loads that refuses documents nested deeper than MAX_JSON_DEPTH with a ValueError,
    instead of a RecursionError from the parser."""
    try:
        document = json.loads(text, **kwargs)
    except RecursionError as exc:
        raise JSONTooDeepError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from exc
    if json_depth(document) > MAX_JSON_DEPTH:
        raise JSONTooDeepError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return document


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the depth limit on every parsed request body."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_bounded(s, **kwargs)


def decoded_body(max_bytes: int) -> bytes:
    """The request body with its Content-Encoding (gzip or deflate) undone, at most `max_bytes`
    once decoded: 413 past it, 415 for an unknown encoding, 400 for a corrupt stream."""
    raw = request.get_data(cache=True)
    encoding = (request.content_encoding or "identity").strip().lower()
    if encoding == "identity":
        body = raw
    elif encoding in WBITS:
        body = inflate(raw, WBITS[encoding], max_bytes)
    else:
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none"
        )
    if len(body) > max_bytes:
        raise RequestEntityTooLarge(f"the body is larger than {max_bytes // 1024} KB")
    return body


def inflate(raw: bytes, wbits: int, max_bytes: int) -> bytes:
    """Decompress at most max_bytes + 1 bytes, so a small bomb cannot fill the memory."""
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"the body is not valid {request.content_encoding} data") from exc
    if len(body) > max_bytes or inflater.unconsumed_tail:
        raise RequestEntityTooLarge(f"the body is larger than {max_bytes // 1024} KB decompressed")
    if not inflater.eof:
        raise BadRequest(f"the {request.content_encoding} body is truncated")
    return body
