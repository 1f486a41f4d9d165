"""Side-by-side pictures of an original and its reconstructions, labelled, with Pillow only."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..images import to_pil

_GAP = 8
_FONT_SIZE = 14
_MIN_WIDTH = 256  # smaller images are enlarged by a whole factor, pixel for pixel


def _font():
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def montage(original: np.ndarray, panels: list[tuple[str, np.ndarray]]) -> Image.Image:
    """The original first, then each (label, pixels) panel; a label may hold several lines."""
    font = _font()
    labelled = [("original", original)] + panels
    pictures = [to_pil(pixels).convert("RGB") for _, pixels in labelled]
    scale = max(1, _MIN_WIDTH // pictures[0].width)
    pictures = [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pictures]
    width, height = pictures[0].size
    label_height = (max(label.count("\n") for label, _ in labelled) + 1) * (_FONT_SIZE + 4)
    canvas = Image.new("RGB", (len(pictures) * (width + _GAP) + _GAP, height + label_height + 2 * _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for n, ((label, _), picture) in enumerate(zip(labelled, pictures)):
        x = _GAP + n * (width + _GAP)
        canvas.paste(picture, (x, _GAP))
        draw.multiline_text((x, height + _GAP + 4), label, fill="black", font=font, spacing=4)
    return canvas
