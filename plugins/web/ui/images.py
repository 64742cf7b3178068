"""Serving decrypted biometric images to the browser: only formats a browser shows, never cached."""

from __future__ import annotations

import io

from flask import Response, abort

#: A stored image larger than this is not decoded to be converted (a decompression bomb must not hurt).
MAX_PIXELS = 4_000_000
_BROWSER = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def image_response(data: bytes | None) -> Response:
    """The image as a response with ``Cache-Control: no-store``; formats a browser cannot show (JPEG 2000,
    TIFF, BMP...) are converted to PNG; 404 when there is no image, 415 when it cannot be read."""
    if data is None:
        abort(404)
    for magic, mimetype in _BROWSER:
        if data.startswith(magic):
            return _private(Response(data, mimetype=mimetype))
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                abort(415)
            buffer = io.BytesIO()
            image.convert("L" if image.mode in ("1", "L", "I;16", "I") else "RGB").save(buffer, "PNG")
    except (OSError, ValueError, Image.DecompressionBombError):
        abort(415)
    return _private(Response(buffer.getvalue(), mimetype="image/png"))


def _private(response: Response) -> Response:
    # Biometrics: never kept by the browser's cache or a proxy, never sniffed as something else.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response
