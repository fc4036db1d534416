"""A batch of vouchers as a printable A4 sheet of tickets (fpdf2): each ticket its code, the batch's
terms and a QR code (segno) that opens the portal's voucher page with the code filled in.

No I/O and no database: the caller gives the texts, already in the reader's language, and the
codes. The QR code is drawn as vector squares (no image library, sharp at any printer's
resolution). fpdf2's core fonts know Latin-1 only: any other character is printed as ``?``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF

COLUMNS, ROWS = 2, 5
MARGIN = 10.0  # mm
TICKET_W, TICKET_H = (210 - 2 * MARGIN) / COLUMNS, (297 - 2 * MARGIN) / ROWS
QR_SIZE = 38.0  # mm, quiet zone included
#: the times printed (the region's: Sésame serves French and Italian regions, one time zone)
TIMEZONE = "Europe/Paris"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sheet:
    """What every ticket of the batch says: a title (the place, the event), lines of terms
    (validity, duration, allowance, devices), how to use it; the portal's address."""

    title: str
    lines: Sequence[str]
    how_to: str
    portal_url: str
    #: the PDF's creation date: the batch's (the same sheet printed twice is the same file)
    created: datetime | None = None


def voucher_url(portal_url: str, code: str) -> str:
    """The portal's voucher page with the code filled in (what the QR code holds)."""
    return f"{portal_url.rstrip('/')}/voucher?code={quote(code)}"


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _qr(pdf: FPDF, data: str, x: float, y: float, size: float) -> None:
    qr = segno.make(data, error="m", micro=False)
    matrix = list(qr.matrix_iter(scale=1, border=4))
    module = size / len(matrix)
    for row_index, row in enumerate(matrix):
        start = None
        for col_index, dark in enumerate([*row, False]):  # runs of dark modules as one rectangle
            if dark and start is None:
                start = col_index
            elif not dark and start is not None:
                pdf.rect(
                    x + start * module, y + row_index * module, (col_index - start) * module, module, "F"
                )
                start = None


def render(sheet: Sheet, codes: Sequence[str]) -> bytes:
    """The PDF: ten tickets a page, in the order given."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(_latin1(sheet.title))
    pdf.set_creator("Sésame")
    if sheet.created is not None:
        pdf.set_creation_date(sheet.created)
    pdf.set_draw_color(150, 150, 150)
    pdf.set_fill_color(0, 0, 0)
    per_page = COLUMNS * ROWS
    for index, code in enumerate(codes):
        if index % per_page == 0:
            pdf.add_page()
        slot = index % per_page
        x = MARGIN + (slot % COLUMNS) * TICKET_W
        y = MARGIN + (slot // COLUMNS) * TICKET_H
        pdf.set_dash_pattern(dash=1.5, gap=1.5)  # where to cut
        pdf.rect(x, y, TICKET_W, TICKET_H)
        pdf.set_dash_pattern()
        text_w = TICKET_W - QR_SIZE - 6
        pdf.set_xy(x + 3, y + 3)
        pdf.set_font("helvetica", "B", 10)
        pdf.multi_cell(text_w, 4.5, _latin1(sheet.title), align="L")
        pdf.set_x(x + 3)
        pdf.set_font("courier", "B", 15)
        pdf.cell(text_w, 9, code, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "", 7.5)
        for line in sheet.lines:
            pdf.set_x(x + 3)
            pdf.multi_cell(text_w, 3.4, _latin1(line), align="L")
        pdf.set_x(x + 3)
        pdf.set_font("helvetica", "I", 7)
        pdf.multi_cell(text_w, 3.2, _latin1(sheet.how_to), align="L")
        _qr(pdf, voucher_url(sheet.portal_url, code), x + TICKET_W - QR_SIZE - 2, y + 4, QR_SIZE)
        pdf.set_xy(x + TICKET_W - QR_SIZE - 2, y + QR_SIZE + 5)
        pdf.set_font("helvetica", "", 6)
        pdf.multi_cell(QR_SIZE, 2.6, _latin1(sheet.portal_url.split("://", 1)[-1]), align="C")
    return bytes(pdf.output())


def describe(
    *,
    valid_from: datetime,
    valid_until: datetime,
    duration_seconds: int,
    octets_limit: int | None,
    max_devices: int,
    gettext: Callable[[str], str],
    timezone: str = TIMEZONE,
) -> list[str]:
    """The terms printed on every ticket, in the reader's language."""
    _ = gettext
    zone = ZoneInfo(timezone)
    start, end = (t.astimezone(zone).strftime("%d/%m/%Y %H:%M %Z") for t in (valid_from, valid_until))
    hours, rest = divmod(duration_seconds // 60, 60)
    lasts = f"{hours} h {rest:02d}" if hours else f"{rest} min"
    lines = [
        _("Valid from %(start)s to %(end)s") % {"start": start, "end": end},
        _("Lasts %(duration)s from its first use") % {"duration": lasts},
        _("Devices at once: %(count)d") % {"count": max_devices},
    ]
    if octets_limit is not None:
        lines.append(_("Data: %(megabytes)d MB") % {"megabytes": max(1, octets_limit // 1_000_000)})
    return lines
