"""Profile pictures: recognised by content (never by name), re-encoded, stored at random.

Re-encoding drops metadata such as a phone camera's GPS position, and proves the file
really is the image it claims to be.
"""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from anyio import to_thread
from PIL import Image, UnidentifiedImageError

from healthcare.errors import InputError

# Pillow format name -> file extension.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_PIXELS = 40_000_000
MAX_SIDE = 1024  # stored pictures are scaled down to fit this square


async def read_upload(upload: object, max_bytes: int, field: str) -> bytes:
    """Read at most `max_bytes`; a larger file is refused without reading it whole."""
    read = getattr(upload, "read", None)
    if read is None:
        raise InputError(field, "Attach a file.")
    data = await read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(field, f"The file is larger than {max_bytes // 1024} KiB.")
    if not data:
        raise InputError(field, "The file is empty.")
    return data


def _reencode(data: bytes, field: str) -> tuple[bytes, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
                image_format = image.format or ""
                if image.width * image.height > MAX_PIXELS:
                    raise InputError(field, "The image has too many pixels.")
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
    content, extension = await to_thread.run_sync(_reencode, data, field)
    name = f"{secrets.token_urlsafe(24)}.{extension}"
    await to_thread.run_sync(_write, media_dir / name, content)
    return name


def remove_picture(name: str | None, media_dir: Path) -> None:
    if name:
        (media_dir / name).unlink(missing_ok=True)
