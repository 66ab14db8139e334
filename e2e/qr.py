"""Reads back the QR codes Tally draws as SVG, such as the otpauth URI on the two-factor enrolment page.

Tally's SVG (Sources/TallyWeb/QRCode.swift) has a viewBox measured in modules, quiet zone included, and one `<path>`
made of a unit square `M{x} {y}h1v1h-1z` for each dark module. `decode_qr_svg` turns that path back into a module
matrix and paints it with Pillow as a PNG. zxing-cpp then decodes the image, the way a phone reads the screen. So a
test passes only when a real decoder reads the text back, not merely when this parser agrees with the encoder.

Needs zxing-cpp and Pillow (e2e/requirements.txt).
"""
import io
import re

import zxingcpp
from PIL import Image

PIXELS_PER_MODULE = 8
# White around the viewBox as well, so the image still decodes if an SVG ever comes with a thin quiet zone.
MARGIN_MODULES = 4

_VIEW_BOX = re.compile(r'<svg\b[^>]*\bviewBox="0 0 (\d+) (\d+)"')
_PATH = re.compile(r'<path\b[^>]*\bd="([^"]*)"')
_SQUARE = re.compile(r"M(\d+) (\d+)h1v1h-1z")


def _dark_modules(svg_text: str) -> tuple[int, int, set[tuple[int, int]]]:
    """The viewBox's width and height, and the (x, y) of each unit square. Anything else in the path is an error."""
    view_box = _VIEW_BOX.search(svg_text)
    assert view_box, "no <svg viewBox=\"0 0 w h\"> in the QR code SVG"
    width, height = int(view_box[1]), int(view_box[2])
    paths = _PATH.findall(svg_text)
    assert len(paths) == 1, f"expected one <path d=…> in the QR code SVG, found {len(paths)}"
    squares = list(_SQUARE.finditer(paths[0]))
    assert "".join(m[0] for m in squares) == paths[0], "the QR code path holds more than unit squares"
    dark = {(int(m[1]), int(m[2])) for m in squares}
    assert all(0 <= x < width and 0 <= y < height for x, y in dark), "a QR code module outside the viewBox"
    return width, height, dark


def _png(width: int, height: int, dark: set[tuple[int, int]]) -> bytes:
    scale, margin = PIXELS_PER_MODULE, MARGIN_MODULES
    image = Image.new("L", ((width + 2 * margin) * scale, (height + 2 * margin) * scale), 255)
    for x, y in dark:
        left, top = (x + margin) * scale, (y + margin) * scale
        image.paste(0, (left, top, left + scale, top + scale))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decode_qr_svg(svg_text: str) -> str:
    """The text of the QR code in Tally's SVG. Raises AssertionError if zxing-cpp finds no QR code in it."""
    width, height, dark = _dark_modules(svg_text)
    image = Image.open(io.BytesIO(_png(width, height, dark)))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode, text_mode=zxingcpp.TextMode.Plain)
    assert found, f"zxing-cpp found no QR code in the SVG ({len(dark)} dark modules, viewBox {width}×{height})"
    assert len(found) == 1, f"zxing-cpp found {len(found)} QR codes in one SVG"
    return found[0].text
