"""Photo benchmark: the worst photos the submission accepts, checked and re-encoded as a request does it.

Follows bench/run.py's contract. Builds, in memory, the costliest files each accepted format allows under the
10 MB and pixel limits of issues.photos (one-colour images compress to almost nothing, so the pixel limit, not the
byte limit, bounds them), then times `photos_clean` on each, and on six of the worst in one call: the decode part
of one POST /api/v1/issues/ with six photos, which must stay far inside gunicorn's 30 s timeout. Also the refusal
of a 48-megapixel PNG of zeros (140 KB), which used to take 8 s to decode and is now refused from its header.
"""

import io
import statistics
import time

TITLE = "worst accepted photos checked and re-encoded (issues.photos.photos_clean)"
NOTES = {
    "png_rgb_24mp_s": "a 6000 × 4000 (24 MP) RGB PNG of zeros, the largest PNG accepted: median s of 3",
    "png_rgba_24mp_s": "the same as RGBA (a third more bytes to inflate): median s of 3",
    "webp_24mp_s": "a 6000 × 4000 WebP of zeros, the largest WebP accepted: median s of 3",
    "jpeg_50mp_s": "an 8160 × 6120 (49.9 MP) JPEG at quality 95, the largest JPEG accepted: median s of 3",
    "worst_one_s": "the slowest of the four above (by CPU time)",
    "worst_one_cpu_s": "its CPU seconds: what it costs on an idle core (wall figures grow with the machine's load)",
    "six_worst_s": "photos_clean on six copies of the slowest, in one call: one request's photo work",
    "six_worst_cpu_s": "its CPU seconds",
    "gunicorn_timeout_s": "gunicorn's worker timeout (gunicorn.conf.py), which six_worst_s must stay far under",
    "refuse_48mp_png_ms": "refusing the 8000 × 6000 PNG of zeros (140 KB) from its header: median ms of 3",
    "photos_per_s": "worst photos checked per CPU second (1 / worst_one_cpu_s)",
    "photos_per_s_vs_bare_view": "photos_per_s ÷ bare view calls/s",
}

GUNICORN_TIMEOUT_S = 30


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB", **save) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    image = Image.new(mode, size)
    if fmt == "JPEG":
        # A gradient, not one colour: a photo-like JPEG that still fits under 10 MB at 50 megapixels.
        image = Image.linear_gradient("L").resize(size).convert(mode)
    image.save(out, fmt, **save)
    return out.getvalue()


CPU_SECONDS: dict[str, float] = {}


def _median_s(fn, repeat: int = 3, *, key: str = "") -> float:
    """Return the median wall seconds of `fn`; keep its median CPU seconds under `key` (load-independent)."""
    times: list[float] = []
    cpu: list[float] = []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if key:
        CPU_SECONDS[key] = round(statistics.median(cpu), 3)
    return round(statistics.median(times), 4)


def _upload(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def run(ctx) -> dict:
    from config.errors import ValidationFailed
    from issues.photos import MAX_PHOTO_BYTES, photos_clean

    inputs = {
        "png_rgb_24mp_s": _image("PNG", (6000, 4000)),
        "png_rgba_24mp_s": _image("PNG", (6000, 4000), "RGBA"),
        "webp_24mp_s": _image("WEBP", (6000, 4000), quality=85),
        "jpeg_50mp_s": _image("JPEG", (8160, 6120), quality=95),
    }
    for key, data in inputs.items():
        assert len(data) <= MAX_PHOTO_BYTES, f"{key} is {len(data)} bytes, over the upload limit"
        ctx.log(f"{key}: {len(data):,} bytes")
    figures = {}
    for key, data in inputs.items():
        figures[key] = _median_s(lambda d=data, k=key: photos_clean(files=[_upload(d, k)]), key=key)
    worst_key = max(CPU_SECONDS, key=CPU_SECONDS.get)
    figures["worst_one_s"] = figures[worst_key]
    figures["worst_one_cpu_s"] = CPU_SECONDS[worst_key]
    worst = inputs[worst_key]

    def six():
        photos_clean(files=[_upload(worst, f"{i}") for i in range(6)])

    figures["six_worst_s"] = _median_s(six, 1, key="six")
    figures["six_worst_cpu_s"] = CPU_SECONDS["six"]
    figures["gunicorn_timeout_s"] = GUNICORN_TIMEOUT_S

    zeros = _image("PNG", (8000, 6000))

    def refuse():
        try:
            photos_clean(files=[_upload(zeros, "zeros.png")])
        except ValidationFailed:
            return
        raise AssertionError("the 48-megapixel PNG was accepted")

    figures["refuse_48mp_png_ms"] = round(_median_s(refuse) * 1000, 1)
    rate = 1 / figures["worst_one_cpu_s"]
    figures["photos_per_s"] = round(rate, 2)
    figures["photos_per_s_vs_bare_view"] = ctx.ratio(rate)
    return figures
