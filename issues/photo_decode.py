"""Decoding an uploaded photo, in a process of its own: what a stalled or greedy decode can take down is that process.

The decode and re-encode of issues.photos happen here, in plain Pillow (no Django: this module runs as
`python -m issues.photo_decode` too). The web process keeps a few decoder processes, each reused for photo after
photo, and hands each photo to one with a hard time limit (`photo_reencode_isolated`): past it, the decoder is
killed (SIGKILL, nothing to negotiate with) and the photo refused, and a fresh decoder starts for the next one. Each
decoder caps its own address space (RLIMIT_AS), so a photo that would need gigabytes fails with MemoryError there,
never in the web worker; a decoder that dies anyway (a crash in a codec) only refuses the photo it held.

Pixel limits (checked from the header, before any pixel is decoded) and early downscaling keep honest photos far
inside the time limit (bench/bench_photos.py); the process boundary is for what slips past them.
"""

import io
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError


def gettext_noop(message: str) -> str:
    """Mark `message` for the catalogue, as Django's gettext_noop does (makemessages finds it by this name).

    Django's own needs settings, which a decoder process never loads: it runs Pillow and nothing else.
    """
    return message


MAX_PHOTO_BYTES = 10 * 1024 * 1024
# The work per photo is bounded, so six in one request stay far inside gunicorn's 30 s (bench "photos"):
# - JPEG, what phones send, up to 50 megapixels (full-resolution modes, 8160 × 6120): the decoder scales it down
#   while decoding (`draft`, 1/2 to 1/8), so even the largest costs a fraction of a full decode;
# - PNG and WebP up to 24 megapixels (6000 × 4000; a long phone screenshot is about 20): they decode whole, and a
#   PNG of zeros is 140 KB for 48 megapixels, which took 8 s to decode and re-encode whole.
# Both are checked from the header, before a pixel is decoded.
MAX_PHOTO_PIXELS = 50_000_000
MAX_PHOTO_PIXELS_BY_FORMAT = {"JPEG": MAX_PHOTO_PIXELS, "MPO": MAX_PHOTO_PIXELS, "PNG": 24_000_000, "WEBP": 24_000_000}
# Pillow warns above this and refuses above twice this, for every image the process opens.
Image.MAX_IMAGE_PIXELS = MAX_PHOTO_PIXELS
# Stored photos are at most this long on their longer side (a 4000 × 3000 phone photo becomes 2560 × 1920):
# enough to see a crack in a wall, and every later step (colour, re-encoding) works on 5 megapixels at most.
MAX_STORED_SIDE = 2560

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
JPEG_QUALITY = 85
WEBP_QUALITY = 85

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SRGB = ImageCms.createProfile("sRGB")


class PhotoRefused(ValueError):
    """One file is not an acceptable photo; the message (a msgid naming the file as `%(name)s`) says why."""

    def __init__(self, msgid: str, **params):
        self.msgid, self.params = msgid, params
        super().__init__(msgid % {**params, "name": "photo"})


def _jpeg_stream_end(data: bytes, start: int) -> int:
    """Return the offset just after the EOI marker of the JPEG stream that begins at `start`."""
    if data[start : start + 2] != b"\xff\xd8":
        raise PhotoRefused(gettext_noop("%(name)s is not a whole JPEG image."))
    pos, n = start + 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise PhotoRefused(gettext_noop("%(name)s is a damaged JPEG image."))
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            continue
        if pos + 2 > n:
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise PhotoRefused(gettext_noop("%(name)s is a damaged JPEG image."))
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the next real marker
            while pos < n:
                hit = data.find(b"\xff", pos)
                if hit < 0 or hit + 1 >= n:
                    pos = n
                    break
                follower = data[hit + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
                    pos = hit + 1 if follower == 0xFF else hit + 2
                    continue
                pos = hit
                break
    raise PhotoRefused(gettext_noop("%(name)s is a truncated JPEG image."))


def _jpeg_end(data: bytes) -> int:
    """Return where the JPEG file's images end.

    Phones store further whole JPEG images after the first one (MPF: depth maps, HDR gain maps); those are
    images too, so they may follow. Anything else after the last image is refused by the caller.
    """
    end = _jpeg_stream_end(data, 0)
    while data[end : end + 2] == b"\xff\xd8":
        end = _jpeg_stream_end(data, end)
    return end


def _png_end(data: bytes) -> int:
    """Return the offset just after the IEND chunk."""
    pos, n = len(_PNG_SIGNATURE), len(data)
    while pos + 8 <= n:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        pos += 8 + length + 4  # header, data, CRC
        if kind == b"IEND":
            if pos > n:
                break
            return pos
    raise PhotoRefused(gettext_noop("%(name)s is a truncated PNG image."))


def _webp_end(data: bytes) -> int:
    """Return the end of the RIFF container, as its header declares it."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise PhotoRefused(gettext_noop("%(name)s is a damaged WebP image."))
    (riff_size,) = struct.unpack("<I", data[4:8])
    return 8 + riff_size + (riff_size & 1)


_IMAGE_END = {"JPEG": _jpeg_end, "MPO": _jpeg_end, "PNG": _png_end, "WEBP": _webp_end}


def _refuse_trailing_data(data: bytes, fmt: str) -> None:
    """Refuse a file that goes on after its image ends (a polyglot: the tail is another file or a payload).

    Zero bytes are padding some cameras write, not content: they may follow.
    """
    tail = data[_IMAGE_END[fmt](data) :]
    if not tail.strip(b"\0"):
        return
    if tail[4:8] == b"ftyp":
        # Phones' "motion photos" append a video (an MP4 file) to the picture.
        raise PhotoRefused(
            gettext_noop("%(name)s is a motion photo (a video follows the picture): send it as a still photo.")
        )
    raise PhotoRefused(gettext_noop("%(name)s carries data after the end of the image (another file hidden in it)."))


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """Return the decoded image, at most MAX_STORED_SIDE on its longer side, and its format (from the bytes alone).

    The size is checked from the header before decoding (Pillow's `open` reads only the header); JPEG decodes
    straight to a smaller scale, the others decode whole and are reduced at once.
    """
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make the warning a refusal too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            limit = MAX_PHOTO_PIXELS_BY_FORMAT[image.format]
            if image.width * image.height > limit:
                raise _too_big(limit)
            _refuse_trailing_data(data, image.format)
            if image.format in ("JPEG", "MPO"):
                image.draft(None, (MAX_STORED_SIDE, MAX_STORED_SIDE))
            image.load()
        except PhotoRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_big(MAX_PHOTO_PIXELS) from exc
        except UnidentifiedImageError as exc:
            raise PhotoRefused(gettext_noop("%(name)s is not a JPEG, PNG or WebP image.")) from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise PhotoRefused(gettext_noop("%(name)s is a damaged or truncated image.")) from exc
    fmt = "JPEG" if image.format == "MPO" else image.format  # several images in one JPEG file: a JPEG for us
    if max(image.size) > MAX_STORED_SIDE:
        info = dict(image.info)  # the ICC profile and EXIF orientation, which _clean_pixels still needs
        # reducing_gap: a cheap box reduction first, then bicubic over what is left.
        image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.BICUBIC, reducing_gap=1.0)
        image.info.update({k: v for k, v in info.items() if k not in image.info})
    return image, fmt


def _too_big(limit: int) -> PhotoRefused:
    return PhotoRefused(
        gettext_noop("%(name)s has more than %(millions)s million pixels."), millions=limit // 1_000_000
    )


def _to_srgb(image: Image.Image, icc: bytes | None, mode: str) -> Image.Image:
    """Return the image in `mode`, its colours moved to sRGB when it has an ICC profile that works."""
    if icc and image.mode in ("RGB", "RGBA", "CMYK") and mode in ("RGB", "RGBA"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode == "CMYK" or image.mode == mode:
                return ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
            return ImageCms.profileToProfile(image.convert(mode), source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or mismatched profile: keep the pixels as they are
    return image.convert(mode) if image.mode != mode else image


def _clean_pixels(image: Image.Image, fmt: str) -> Image.Image:
    """Return a new image holding only the pixels, upright, in sRGB, in a mode the target format stores."""
    icc = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image) or image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode in ("L", "1"):
        mode = "L"
    elif has_alpha and fmt != "JPEG":
        mode = "RGBA"
    else:
        mode = "RGB"
    converted = _to_srgb(image, icc, mode)
    # A fresh image from raw pixels carries no info at all: no EXIF, XMP, ICC, text chunks or comments.
    return Image.frombytes(converted.mode, converted.size, converted.tobytes())


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=False)
    else:
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def photo_reencode(data: bytes) -> tuple[bytes, str, int, int]:
    """Return (clean bytes, format, width, height) of a photo's bytes, or raise PhotoRefused (in this process)."""
    image, fmt = _decode(data)
    clean = _clean_pixels(image, fmt)
    return _encode(clean, fmt), fmt, clean.width, clean.height


# --- the decoder process ------------------------------------------------------------------------------------------

TOO_SLOW = gettext_noop("%(name)s took too long to decode: send a smaller photo.")
TOO_GREEDY = gettext_noop("%(name)s needs too much memory to decode: send a smaller photo.")
DECODER_FAILED = gettext_noop("%(name)s could not be decoded: send another photo.")
_FRAME = struct.Struct(">I")
_ROOT = Path(__file__).resolve().parent.parent


def _write_frame(stream, payload: bytes) -> None:
    stream.write(_FRAME.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exact(stream, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        raise EOFError
    return data


def serve(stdin, stdout, *, memory_bytes: int) -> None:
    """Decode photo after photo from `stdin` until it closes; answer each with a header frame and a data frame."""
    if memory_bytes > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            (size,) = _FRAME.unpack(_read_exact(stdin, _FRAME.size))
            data = _read_exact(stdin, size)
        except EOFError:
            return
        try:
            clean, fmt, width, height = photo_reencode(data)
            header = {"format": fmt, "width": width, "height": height}
        except PhotoRefused as exc:
            clean, header = b"", {"refused": exc.msgid, "params": exc.params}
        except MemoryError:
            clean, header = b"", {"refused": TOO_GREEDY, "params": {}}
        del data
        _write_frame(stdout, json.dumps(header).encode())
        _write_frame(stdout, clean)


class PhotoDecoder:
    """One decoder process, used by one caller at a time."""

    def __init__(self, *, memory_mb: int):
        self.memory_mb = memory_mb
        self.owner = os.getpid()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "issues.photo_decode", str(memory_mb * 1024 * 1024)],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _read(self, size: int, deadline: float) -> bytes:
        fd, chunks, left = self.process.stdout.fileno(), [], size
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def reencode(self, data: bytes, *, seconds: float) -> tuple[bytes, str, int, int]:
        """Return what photo_reencode returns, decoded in this process's decoder within `seconds`.

        Raise PhotoRefused for a refused photo, TimeoutError past `seconds`, EOFError or OSError when the decoder
        died (the caller kills this decoder on any of the last three).
        """
        deadline = time.monotonic() + seconds
        _write_frame(self.process.stdin, data)
        (size,) = _FRAME.unpack(self._read(_FRAME.size, deadline))
        header = json.loads(self._read(size, deadline))
        (size,) = _FRAME.unpack(self._read(_FRAME.size, deadline))
        clean = self._read(size, deadline)
        if "refused" in header:
            raise PhotoRefused(header["refused"], **header["params"])
        return clean, header["format"], header["width"], header["height"]


_idle: list[PhotoDecoder] = []
_idle_lock = threading.Lock()


def _take(memory_mb: int) -> PhotoDecoder:
    with _idle_lock:
        while _idle:
            decoder = _idle.pop()
            # A decoder started by the process this one was forked from is not ours to use (nor to kill).
            if decoder.owner == os.getpid() and decoder.alive() and decoder.memory_mb == memory_mb:
                return decoder
            if decoder.owner == os.getpid():
                decoder.kill()
    return PhotoDecoder(memory_mb=memory_mb)


def _give_back(decoder: PhotoDecoder) -> None:
    with _idle_lock:
        _idle.append(decoder)


def decoders_stop() -> None:
    """Stop this process's idle decoders (tests; a decoder also ends by itself when its web process ends)."""
    with _idle_lock:
        while _idle:
            decoder = _idle.pop()
            if decoder.owner == os.getpid():
                decoder.kill()


def photo_reencode_isolated(data: bytes, *, seconds: float, memory_mb: int) -> tuple[bytes, str, int, int]:
    """Return what photo_reencode returns, decoded in a decoder process killed if it takes more than `seconds`.

    Raise PhotoRefused: for what photo_reencode refuses, and TOO_SLOW, TOO_GREEDY or DECODER_FAILED for a photo
    that outran the time limit, the memory limit or the decoder.
    """
    for attempt in (1, 2):
        decoder = _take(memory_mb)
        try:
            result = decoder.reencode(data, seconds=seconds)
        except PhotoRefused:
            _give_back(decoder)
            raise
        except TimeoutError:
            decoder.kill()
            raise PhotoRefused(TOO_SLOW) from None
        except BrokenPipeError:
            # An idle decoder that had died (killed from outside): start another, once.
            decoder.kill()
            if attempt == 1:
                continue
            raise PhotoRefused(DECODER_FAILED) from None
        except (EOFError, OSError, ValueError):
            decoder.kill()
            raise PhotoRefused(DECODER_FAILED) from None
        _give_back(decoder)
        return result
    raise AssertionError("unreachable")


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer, memory_bytes=int(sys.argv[1]))
