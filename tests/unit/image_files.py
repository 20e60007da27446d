"""Image files built byte by byte, for the checks that read only an image's header."""

import struct
import zlib


def png_header(width: int, height: int) -> bytes:
    """The start of an 8-bit RGB PNG declaring `width` x `height`: all a header-only reader needs, no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", b""))
