"""Profile pictures: recognised by content (never by name), re-encoded, stored at random.

Re-encoding drops metadata such as a phone camera's GPS position, and proves the file
really is the image it claims to be.

Decoding is where a small file costs the most: a 113 KiB PNG can hold 40 million pixels,
160 MB once decoded. So the size is read from the header and checked before anything is
decoded (16 megapixels for PNG and WebP, more than a 4K screenshot; 50 for JPEG, which is
decoded straight to a reduced scale, as a phone photo of 24 or 48 megapixels is), and at
most two images are decoded at once, off the event loop, whatever the number of uploads.
Each account may upload a few pictures an hour (`UPLOAD_RATE_PER_ACCOUNT`).
"""

from __future__ import annotations

import asyncio
import io
import secrets
import warnings
from pathlib import Path

from anyio import to_thread
from PIL import Image, UnidentifiedImageError

from healthcare.failures import InputError

# Pillow format name -> file extension.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_PIXELS = 16_000_000  # decoded whole: at most 64 MB in memory
MAX_JPEG_PIXELS = 50_000_000  # decoded at 1/2 to 1/8 scale (see `_decode`)
MAX_SIDE = 1024  # stored pictures are scaled down to fit this square
MAX_CONCURRENT_DECODES = 2  # the machine's cores: more at once only costs memory
_decoding = asyncio.Semaphore(MAX_CONCURRENT_DECODES)


async def read_upload(upload: object, max_bytes: int, field: str) -> bytes:
    """Read at most `max_bytes`; a larger file is refused without reading it whole."""
    read = getattr(upload, "read", None)
    if read is None:
        raise InputError(field, "Attach a file.")
    data: bytes = await read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(field, f"The file is larger than {max_bytes // 1024} KiB.")
    if not data:
        raise InputError(field, "The file is empty.")
    return data


def _check_size(image: Image.Image, field: str) -> None:
    """From the header: nothing is decoded yet."""
    pixels = image.width * image.height
    most = MAX_JPEG_PIXELS if image.format == "JPEG" else MAX_PIXELS
    if pixels > most:
        raise InputError(
            field,
            f"The image is {image.width}x{image.height} pixels; at most "
            f"{most // 1_000_000} megapixels for a {image.format} picture.",
        )


def _reencode(data: bytes, field: str) -> tuple[bytes, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
                image_format = image.format or ""
                _check_size(image, field)
                if image_format == "JPEG":
                    # Decode at the smallest scale (1/2, 1/4 or 1/8) still at least the
                    # stored size: a fraction of the memory and time of the whole.
                    image.draft(image.mode, (MAX_SIDE, MAX_SIDE))
                image.load()
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                cleaned: Image.Image = image
                if image_format == "JPEG" and image.mode not in {"RGB", "L"}:
                    cleaned = image.convert("RGB")
                out = io.BytesIO()
                cleaned.save(out, format=image_format)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(field, "Upload a JPEG, PNG or WebP image.") from None
    except (OSError, SyntaxError, ValueError):
        raise InputError(field, "The image file is damaged.") from None
    return out.getvalue(), ALLOWED_FORMATS[image_format]


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


async def store_picture(data: bytes, media_dir: Path, field: str) -> str:
    """Validate and store an image; returns the new file's name under `media_dir`."""
    async with _decoding:
        content, extension = await to_thread.run_sync(_reencode, data, field)
    name = f"{secrets.token_urlsafe(24)}.{extension}"
    await to_thread.run_sync(_write, media_dir / name, content)
    return name


def remove_picture(name: str | None, media_dir: Path) -> None:
    if name:
        (media_dir / name).unlink(missing_ok=True)
