"""Profile pictures through the GraphQL multipart request spec (apollo-upload-client)."""

import asyncio
import io
import json

import httpx
from PIL import Image
from starlette.datastructures import URL

from healthcare import models
from healthcare.resolvers import pictures
from healthcare.schema.users import media_url
from tests.conftest import TEST_MAX_REQUEST_BYTES, TEST_MAX_UPLOAD_BYTES

UPLOAD_PROFILE_PICTURE = """
mutation UploadProfilePicture($file: Upload!) {
  uploadProfilePicture(file: $file) {
    __typename
    ... on UserPayload { user { id profilePictureUrl } }
    ... on ValidationFailed { code fieldErrors { field message } }
  }
}
"""
REMOVE_PROFILE_PICTURE = """
mutation RemoveProfilePicture { removeProfilePicture { user { profilePictureUrl } } }
"""
PREFLIGHT = {"apollo-require-preflight": "true"}


def image_bytes(image_format: str, size: tuple[int, int] = (32, 32), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=image_format, **save)
    return out.getvalue()


async def upload(
    client, persona, content: bytes, filename: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    operations = {"query": UPLOAD_PROFILE_PICTURE, "variables": {"file": None}}
    return await client.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, content, "application/octet-stream")},
        headers={"authorization": f"Bearer {persona.access_token}", **(headers or PREFLIGHT)},
    )


def stored_files(client) -> set[str]:
    media = client.server.settings.media_dir
    return {path.name for path in media.iterdir()} if media.exists() else set()


async def test_a_png_upload_becomes_the_profile_picture_served_under_media(client, patient):
    # given
    before = stored_files(client)
    # when
    response = await upload(client, patient, image_bytes("PNG"), "holiday-photo.png")
    # then
    result = response.json()["data"]["uploadProfilePicture"]
    assert result["__typename"] == "UserPayload"
    url = result["user"]["profilePictureUrl"]
    assert url.startswith(client.server.base_url + "/media/")
    assert url.endswith(".png")
    # a random name, not the client's ("me" was too short: random text contained it)
    stored_name = url.rsplit("/", 1)[1].removesuffix(".png")
    assert "holiday" not in stored_name
    assert len(stored_name) == 32
    served = await client.http.get(url)
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.content)).format == "PNG"
    assert len(stored_files(client) - before) == 1


async def test_the_type_is_recognised_by_content_not_by_name(client, patient):
    # when: a WebP named like a PNG
    response = await upload(client, patient, image_bytes("WEBP"), "holiday.png")
    # then
    url = response.json()["data"]["uploadProfilePicture"]["user"]["profilePictureUrl"]
    assert url.endswith(".webp")


async def test_camera_metadata_is_removed_from_a_jpeg(client, patient):
    # given: a JPEG carrying EXIF metadata
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    content = image_bytes("JPEG", exif=exif.tobytes())
    assert b"SecretCam" in content
    # when
    response = await upload(client, patient, content, "photo.jpg")
    # then
    url = response.json()["data"]["uploadProfilePicture"]["user"]["profilePictureUrl"]
    served = await client.http.get(url)
    assert b"SecretCam" not in served.content


async def test_a_new_picture_replaces_the_old_file(client, patient):
    # given
    await upload(client, patient, image_bytes("PNG"), "one.png")
    first = stored_files(client)
    # when
    await upload(client, patient, image_bytes("JPEG"), "two.jpg")
    # then
    second = stored_files(client)
    assert len(second) == len(first)
    assert first != second


async def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_stored(client, patient):
    # given
    before = stored_files(client)
    # when: a text file dressed up as a PNG
    response = await upload(client, patient, b"\x89PNG\r\n\x1a\n not really", "evil.png")
    # then
    result = response.json()["data"]["uploadProfilePicture"]
    assert result["__typename"] == "ValidationFailed"
    assert result["fieldErrors"][0]["field"] == "file"
    assert stored_files(client) == before
    assert (await models.User.get(id=patient.user.id)).profile_picture is None


async def test_a_gif_is_refused(client, patient):
    response = await upload(client, patient, image_bytes("GIF"), "anim.gif")
    result = response.json()["data"]["uploadProfilePicture"]
    assert result["__typename"] == "ValidationFailed"
    assert "JPEG, PNG or WebP" in result["fieldErrors"][0]["message"]


async def test_an_oversized_image_is_refused_and_nothing_is_stored(client, patient):
    # given: a valid BMP-noise PNG bigger than the upload cap but under the request cap
    before = stored_files(client)
    noise = Image.frombytes("RGB", (160, 160), bytes(range(256)) * 300)
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    content = out.getvalue()
    assert TEST_MAX_UPLOAD_BYTES < len(content) < TEST_MAX_REQUEST_BYTES
    # when
    response = await upload(client, patient, content, "big.png")
    # then
    result = response.json()["data"]["uploadProfilePicture"]
    assert result["__typename"] == "ValidationFailed"
    assert "larger than" in result["fieldErrors"][0]["message"]
    assert stored_files(client) == before


async def test_a_multipart_request_without_the_preflight_header_is_refused(client, patient):
    # A plain HTML form cannot set custom headers: this is the CSRF defence for uploads.
    response = await upload(client, patient, image_bytes("PNG"), "me.png", headers={"x-other": "1"})
    assert response.status_code == 400
    assert (await models.User.get(id=patient.user.id)).profile_picture is None


async def test_anonymous_uploads_are_refused(client, patient):
    operations = {"query": UPLOAD_PROFILE_PICTURE, "variables": {"file": None}}
    response = await client.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("me.png", image_bytes("PNG"), "image/png")},
        headers=PREFLIGHT,
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_removing_the_picture_deletes_the_file(client, patient):
    # given
    before = stored_files(client)
    await upload(client, patient, image_bytes("PNG"), "me.png")
    assert len(stored_files(client) - before) == 1
    # when
    data = await client.execute(REMOVE_PROFILE_PICTURE, as_=patient)
    # then
    assert data["removeProfilePicture"]["user"]["profilePictureUrl"] is None
    assert stored_files(client) == before


async def test_a_request_body_over_the_cap_gets_413(client, patient):
    # when
    response = await client.http.post(
        "/graphql",
        content=b'{"query": "' + b"x" * (TEST_MAX_REQUEST_BYTES + 1) + b'"}',
        headers={"content-type": "application/json"},
    )
    # then
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}


async def test_an_upload_over_the_cap_gets_413_as_a_graphql_error(client, patient):
    # when: a multipart body larger than MAX_REQUEST_BYTES
    response = await client.http.post(
        "/graphql",
        data={
            "operations": '{"query": "mutation U($f: Upload!) { uploadProfilePicture(file: $f)'
            ' { __typename } }", "variables": {"f": null}}',
            "map": '{"0": ["variables.f"]}',
        },
        files={"0": ("big.png", b"\x89PNG" + b"x" * TEST_MAX_REQUEST_BYTES, "image/png")},
        headers={
            "apollo-require-preflight": "true",
            "authorization": f"Bearer {patient.access_token}",
        },
    )
    # then
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}


# ---- decoding costs memory: sizes read from the header, decodes bounded ---------------


def solid_png(width: int, height: int, mode: str = "RGB") -> bytes:
    """Small on the wire, `width`x`height` pixels once decoded (an RGB pixel takes 4
    bytes in Pillow)."""
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def peak_rss_since_reset() -> int:
    """This process's peak resident memory (the server runs in it), in bytes, since the
    last `reset_peak_rss()`."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def current_rss() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current RSS


async def test_a_png_over_the_pixel_cap_is_refused_from_its_header(client, patient):
    # given: 6300x6300 (40 megapixels), a few KiB on the wire
    content = solid_png(6300, 6300, mode="1")
    assert len(content) < TEST_MAX_UPLOAD_BYTES
    # when
    response = await upload(client, patient, content, "bomb.png")
    # then
    result = response.json()["data"]["uploadProfilePicture"]
    assert result["__typename"] == "ValidationFailed"
    assert result["fieldErrors"][0]["message"] == (
        "The image is 6300x6300 pixels; at most 16 megapixels for a PNG picture."
    )


async def test_a_large_jpeg_photo_is_accepted_and_scaled_down(tmp_path):
    # given: 6000x4000 (24 megapixels, like a phone's photo; larger than the test server
    # takes, so stored directly)
    content = image_bytes("JPEG", size=(6000, 4000), quality=5)
    # when
    name = await pictures.store_picture(content, tmp_path, "file")
    # then
    assert Image.open(tmp_path / name).size == (1024, 683)


# A 16-megapixel PNG takes about 80 MiB to decode: eight at once would take 650 MiB;
# two at a time (the cap), about 160 MiB.
MEMORY_BOUND_BYTES = 200 * 1024 * 1024


async def test_eight_concurrent_near_cap_uploads_stay_under_the_memory_bound(client, live_server):
    # given: eight users, each with a picture just under the pixel cap
    from tests.conftest import make_patient, sign_in

    uploaders = [await sign_in(await make_patient(), live_server.settings) for _ in range(8)]
    content = solid_png(3999, 3999)
    assert len(content) < TEST_MAX_UPLOAD_BYTES
    baseline = current_rss()
    reset_peak_rss()
    # when
    responses = await asyncio.gather(
        *(upload(client, persona, content, "big.png") for persona in uploaders)
    )
    # then: every one stored, and the process grew by less than the bound meanwhile
    results = [r.json()["data"]["uploadProfilePicture"]["__typename"] for r in responses]
    assert results == ["UserPayload"] * 8
    grown = peak_rss_since_reset() - baseline
    assert grown < MEMORY_BOUND_BYTES, f"grew by {grown // 2**20} MiB"


async def test_uploads_per_account_are_rate_limited(client, live_server, patient):
    # given
    limit = live_server.settings.upload_rate_per_account.count
    for _ in range(limit):
        response = await upload(client, patient, image_bytes("PNG"), "me.png")
        assert response.json()["data"]["uploadProfilePicture"]["__typename"] == "UserPayload"
    # when
    refused = await upload(client, patient, image_bytes("PNG"), "me.png")
    # then
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["message"].startswith("Too many uploads; try again in ")


async def test_the_picture_url_keeps_the_host_it_was_asked_on(client, patient):
    # given: a picture
    await upload(client, patient, image_bytes("PNG"), "me.png")
    # when: asked on a host whose name holds "ws" (the URL once replaced its first "ws")
    response = await client.http.post(
        "/graphql",
        json={"query": "query Me { me { profilePictureUrl } }"},
        headers={"authorization": f"Bearer {patient.access_token}", "host": "news.example.com"},
    )
    # then
    url = response.json()["data"]["me"]["profilePictureUrl"]
    assert url.startswith("http://news.example.com/media/"), url


def test_a_picture_url_asked_over_a_websocket_is_http_of_the_same_security():
    assert media_url(URL("wss://news.example.com/"), "a.png") == (
        "https://news.example.com/media/a.png"
    )
    assert media_url(URL("ws://localhost:8000/"), "a.png") == "http://localhost:8000/media/a.png"
    assert media_url(URL("https://x.example/"), "a.png") == "https://x.example/media/a.png"
