"""A letter's A4 pages from its `LetterSheet`, drawn with ReportLab (no app, no database: runs in the letter
workers).

Why not WeasyPrint, as for the generated invoices: a one-page letter with a ten-invoice statement took WeasyPrint
~80 ms of CPU to lay out (its per-box work, measured in issue 18: fewer boxes, fixed table columns, a smaller user
agent stylesheet and batching many letters in one document gained 10 % at best); ReportLab lays out the same letter
in ~12 ms. A company's first run prints hundreds of letters.

The layout (the one the letters' stylesheet, print.css, had under WeasyPrint):
- page 1: page area 22 mm from the left, 18 mm from the right, 15 mm from the top, 20 mm from the bottom; the
  letterhead and our reference on the left; the return address above the window of a French DL envelope and the
  recipient in it (110-192 mm from the left, from 50 mm down); fold marks at 99 and 198 mm;
- following pages: the page area from 24 mm; above it "Company · Our reference ... (continued)";
- every page: the legal line centred and "n / N" at the right, under the page area;
- the statement's header row again on every page it runs on, no row split; the payment and summary boxes, the
  page link and the signature never split (moved to the next page whole); nothing cut: a word longer than its line
  wraps.
Text is escaped before it becomes ReportLab's paragraph markup: what a user typed is printed, never interpreted.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from functools import cache, lru_cache
from itertools import groupby
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import segno
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from relance.services.letters.sheet import LetterSheet
from relance.services.letters.sheet import Table as TextTable

MM = 72 / 25.4
PAGE_W, PAGE_H = A4
LEFT, RIGHT, TOP_FIRST, TOP_NEXT, BOTTOM = 22 * MM, 18 * MM, 15 * MM, 24 * MM, 20 * MM
WIDTH = PAGE_W - LEFT - RIGHT  # 170 mm
WINDOW_X = 88 * MM  # from the page area's left: 110 mm from the sheet's

INK, BLUE, GREY, MUTED, LIGHT = (colors.HexColor(c) for c in ("#1f2933", "#1f5f8b", "#3e4c59", "#616e7c", "#52606d"))
RULE, BORDER = colors.HexColor("#cbd2d9"), colors.HexColor("#9aa5b1")

# --- fonts: Liberation (metric-compatible with Arial), DejaVu for what Liberation lacks -------------------------

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
FACES = {  # our name: the files to look for, the first found wins
    "Sans": ("LiberationSans-Regular.ttf", "DejaVuSans.ttf"),
    "Sans-Bold": ("LiberationSans-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "Mono": ("LiberationMono-Regular.ttf", "DejaVuSansMono.ttf"),
    "Alt": ("DejaVuSans.ttf",),
    "Alt-Bold": ("DejaVuSans-Bold.ttf",),
    "AltMono": ("DejaVuSansMono.ttf",),
}
FALLBACK = {"Sans": "Alt", "Sans-Bold": "Alt-Bold", "Mono": "AltMono"}


@cache
def _font_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in FONT_DIRS:
        if Path(folder).is_dir():
            for path in Path(folder).rglob("*.ttf"):
                found.setdefault(path.name, path)
    return found


@cache
def fonts() -> dict[str, set[int]]:
    """Register the faces once per process -> each face's characters. No font at all: a clear error."""
    files = _font_files()
    covered: dict[str, set[int]] = {}
    for name, candidates in FACES.items():
        path = next((files[c] for c in candidates if c in files), None)
        if path is None:
            if name in FALLBACK:
                raise RuntimeError(f"no font for letters: install fonts-liberation or fonts-dejavu-core ({name})")
            continue
        font = TTFont(name, str(path))
        pdfmetrics.registerFont(font)
        covered[name] = set(font.face.charToGlyph)
    pdfmetrics.registerFontFamily("Sans", normal="Sans", bold="Sans-Bold", italic="Sans", boldItalic="Sans-Bold")
    return covered


def text(value: str, face: str = "Sans") -> str:
    """Plain text as paragraph markup: escaped, the characters the face lacks in its fallback face (a Greek name is
    Liberation's, a telephone sign DejaVu's); a narrow no-break space as a no-break space (ReportLab would break a
    line at the first, never at the second)."""
    covered = fonts()
    own, other = covered[face], covered.get(FALLBACK.get(face, ""), set())
    out = []
    for elsewhere, chars in groupby(value.replace("\u202f", "\u00a0"),
                                    key=lambda char: ord(char) not in own and ord(char) in other):
        chunk = escape("".join(chars))
        out.append(f'<font name="{FALLBACK[face]}">{chunk}</font>' if elsewhere else chunk)
    return "".join(out)


# --- styles ---------------------------------------------------------------------------------------------------

def _style(name: str, size: float, leading: float, **more) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=more.pop("fontName", "Sans"), fontSize=size, leading=size * leading,
                          textColor=more.pop("textColor", INK), allowWidows=0, splitLongWords=1, **more)


@cache
def styles() -> dict[str, ParagraphStyle]:
    fonts()
    return {
        "body": _style("body", 9.5, 1.38, spaceAfter=3 * MM),
        "right": _style("right", 9.5, 1.38, alignment=TA_RIGHT, spaceBefore=3 * MM, spaceAfter=5 * MM),
        "subject": _style("subject", 9.5, 1.38, fontName="Sans-Bold", spaceAfter=5 * MM),
        "bold": _style("bold", 9.5, 1.38, fontName="Sans-Bold"),
        # 6 mm from the text: its last paragraph's 3 mm and these (the page-break condition between them stops
        # ReportLab from taking the larger of the two)
        "statement": _style("statement", 9.5, 1.38, fontName="Sans-Bold", spaceBefore=3 * MM, spaceAfter=1 * MM,
                            keepWithNext=1),
        "name": _style("name", 13, 1.2, fontName="Sans-Bold", textColor=BLUE, spaceAfter=0.5 * MM),
        "line": _style("line", 8.5, 1.35, textColor=GREY),
        "reference": _style("reference", 8.5, 1.35, textColor=GREY, spaceBefore=8 * MM),
        "registered": _style("registered", 7.5, 1.38, fontName="Sans-Bold", spaceAfter=1 * MM),
        "back": _style("back", 6.5, 1.25, textColor=GREY),
        "who": _style("who", 10, 1.3, fontName="Sans-Bold"),
        "address": _style("address", 10, 1.3),
        "small": _style("small", 8.5, 1.38),
        "small-bold": _style("small-bold", 8.5, 1.38, fontName="Sans-Bold", spaceAfter=1 * MM),
        "running": _style("running", 8, 1.38, textColor=GREY),
        "legal": _style("legal", 7, 1.3, textColor=MUTED, alignment=TA_CENTER),
        "signature": _style("signature", 9.5, 1.38, leftIndent=WINDOW_X),
    }


def _para(value: str, style: str, face: str = "Sans") -> Paragraph:
    return Paragraph(text(value, face), styles()[style])


def _image(data_url: str, most: tuple[float, float]) -> Image | None:
    """A data: URL's image (the logo) at its own size (a pixel is 0.75 pt) within `most` (width, height); None when
    it is not one."""
    head, _, payload = data_url.partition(",")
    if not head.startswith("data:image/") or ";base64" not in head:
        return None
    raw = base64.b64decode(payload)
    pixels_w, pixels_h = ImageReader(io.BytesIO(raw)).getSize()
    scale = min(0.75, most[0] / pixels_w, most[1] / pixels_h)
    return Image(io.BytesIO(raw), pixels_w * scale, pixels_h * scale, hAlign="LEFT")


# --- the first page's head: letterhead, window, folds --------------------------------------------------------

class _Head(Flowable):
    """Page 1's top: letterhead and our reference at the left; above the window, growing upwards from 33.5 mm, the
    registered-letter mention and the return address; the recipient from 35 mm down; the fold marks. At least
    71 mm high, more when the letterhead or the address is longer (the letter then starts lower)."""

    def __init__(self, sheet: LetterSheet) -> None:
        super().__init__()
        self.left: list[Flowable] = []
        logo = _image(sheet.logo, (60 * MM, 18 * MM)) if sheet.logo else None
        if logo is not None:
            self.left += [logo, Spacer(1, 2 * MM)]
        self.left.append(_para(sheet.company, "name", "Sans-Bold"))
        self.left += [_para(line, "line") for line in sheet.letterhead]
        if sheet.reference:
            self.left.append(_para(sheet.reference, "reference"))
        self.top = ([_para(sheet.registered, "registered", "Sans-Bold")] if sheet.registered else []) + \
            [_para(sheet.return_address, "back")]
        self.address = [_para(line, "who" if n == 0 else "address", "Sans-Bold" if n == 0 else "Sans")
                        for n, line in enumerate(sheet.recipient)]

    @staticmethod
    def _heights(flowables: list[Flowable], width: float) -> list[float]:
        heights = []
        for flowable in flowables:
            _w, h = flowable.wrap(width, PAGE_H)
            heights.append(h + flowable.getSpaceBefore() + flowable.getSpaceAfter())
        return heights

    def wrap(self, available_width, available_height):
        self.left_heights = self._heights(self.left, 82 * MM)
        self.top_heights = self._heights(self.top, 82 * MM)
        self.address_heights = self._heights(self.address, WIDTH - WINDOW_X)
        self.height = max(71 * MM, sum(self.left_heights), 35 * MM + sum(self.address_heights))
        return WIDTH, self.height

    @staticmethod
    def _stack(canvas, flowables, heights, x, top) -> None:
        """Draw top-down from `top` (in the flowable's coordinates)."""
        for flowable, height in zip(flowables, heights, strict=True):
            before = flowable.getSpaceBefore()
            flowable.drawOn(canvas, x, top - before - (height - before - flowable.getSpaceAfter()))
            top -= height
        return top

    def draw(self):
        canvas, top = self.canv, self.height
        self._stack(canvas, self.left, self.left_heights, 0, top)
        line_at = top - 33.5 * MM  # the return address's rule, 0.5 mm under its text
        self._stack(canvas, self.top, self.top_heights, WINDOW_X, line_at + 0.5 * MM + sum(self.top_heights))
        canvas.setStrokeColor(BORDER)
        canvas.setLineWidth(0.4)
        canvas.line(WINDOW_X, line_at, WIDTH, line_at)
        self._stack(canvas, self.address, self.address_heights, WINDOW_X, top - 35 * MM)
        for fold in (84 * MM, 183 * MM):  # 99 and 198 mm from the top of the sheet
            canvas.line(-19 * MM, top - fold, -14 * MM, top - fold)


class _Notice(Flowable):
    """"FORMAL NOTICE" in a frame, spaced capitals, centred."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
        self.spaceAfter = 5 * MM

    def wrap(self, available_width, available_height):
        self.width, self.height = available_width, 12 * 1.2 + 3 * MM + 2.4
        return self.width, self.height

    def draw(self):
        canvas = self.canv
        canvas.setStrokeColor(INK)
        canvas.setLineWidth(1.2)
        canvas.rect(0.6, 0.6, self.width - 1.2, self.height - 1.2)
        spacing = 0.06 * 12
        width = pdfmetrics.stringWidth(self.words, "Sans-Bold", 12) + spacing * (len(self.words) - 1)
        canvas.setFillColor(INK)
        written = canvas.beginText((self.width - width) / 2, self.height / 2 - 12 * 0.35)
        written.setFont("Sans-Bold", 12)
        written.setCharSpace(spacing)
        written.textOut(self.words)
        canvas.drawText(written)


# --- tables ----------------------------------------------------------------------------------------------------

class _Rows(Flowable):
    """A table drawn row by row: each row's cells in one text object (a PDF reader reads a row as one line), cells
    that do not fit their column wrapped, rows never split; split between rows, the header row again at the top of
    the next page. `rows`: (cells, total: bold with a rule above); `numbers`: the right-aligned columns; `space`:
    the room before and after the table."""

    PAD_X, PAD_Y = 2 * MM, 0.6 * MM

    def __init__(self, head: list[str] | None, rows: list[tuple[list[str], bool]], widths: list[float],
                 numbers: list[bool], size: float, leading: float, rule: tuple[float, colors.Color] | None,
                 pad_right: float = PAD_X, space: tuple[float, float] = (0, 0)) -> None:
        super().__init__()
        self.head, self.rows, self.widths, self.numbers = head, rows, widths, numbers
        self.size, self.leading, self.rule, self.pad_right = size, leading, rule, pad_right
        self.space = space
        self.spaceBefore, self.spaceAfter = space
        self.width = sum(widths)

    def _face(self, words: str, bold: bool) -> str:
        face = "Sans-Bold" if bold else "Sans"
        return face if all(ord(c) in fonts()[face] for c in words) else FALLBACK[face]

    def _lines(self, cells: list[str], bold: bool, size: float) -> list[tuple[str, ...]]:
        out = []
        for n, words in enumerate(cells):
            room = self.widths[n] - self.PAD_X - (self.pad_right if n == len(cells) - 1 else self.PAD_X)
            words = words.replace("\u202f", "\u00a0")
            out.append(_split(words, self._face(words, bold), size, room))
        return out

    def _height(self, lines: list[tuple[str, ...]], leading: float) -> float:
        return max(map(len, lines)) * leading + 2 * self.PAD_Y + 0.5

    def _heights(self) -> list[float]:
        heights = []
        if self.head is not None:
            heights.append(self._height(self._lines(self.head, False, 8), 10))
        for cells, total in self.rows:
            room = 0.6 * MM if total else 0  # the total's rule above
            heights.append(self._height(self._lines(cells, total, self.size), self.leading) + room)
        return heights

    def wrap(self, available_width, available_height):
        self.height = sum(self._heights())
        return self.width, self.height

    def split(self, available_width, available_height):
        heights = self._heights()
        head = heights[0] if self.head is not None else 0
        used, count = head, 0
        for height in heights[1 if self.head is not None else 0:]:
            if used + height > available_height:
                break
            used, count = used + height, count + 1
        if count == 0 or count == len(self.rows):
            return []
        return [self._part(self.rows[:count]), self._part(self.rows[count:])]

    def _part(self, rows) -> _Rows:
        return _Rows(self.head, rows, self.widths, self.numbers, self.size, self.leading, self.rule, self.pad_right,
                     self.space)

    def draw(self):
        canvas, top = self.canv, self.height
        if self.head is not None:
            top = self._row(canvas, top, self.head, False, 8, 10, LIGHT, (0.8, LIGHT))
        for cells, total in self.rows:
            top = self._row(canvas, top, cells, total, self.size, self.leading, INK, self.rule)

    def _row(self, canvas, top, cells, total, size, leading, color, rule) -> float:
        lines = self._lines(cells, total, size)
        if total:  # bold, a rule above, a little more room
            canvas.setStrokeColor(INK)
            canvas.setLineWidth(0.8)
            canvas.line(0, top - 0.2, self.width, top - 0.2)
            top -= 0.6 * MM
        height = self._height(lines, leading)
        written = canvas.beginText()
        written.setFillColor(color)
        x = 0.0
        for n, cell in enumerate(lines):
            face = self._face(cells[n], total)
            written.setFont(face, size)
            right = x + self.widths[n] - (self.pad_right if n == len(lines) - 1 else self.PAD_X)
            for k, line in enumerate(cell):
                baseline = top - self.PAD_Y - size * 0.93 - k * leading
                at = right - pdfmetrics.stringWidth(line, face, size) if self.numbers[n] else x + self.PAD_X
                written.setTextOrigin(at, baseline)
                written.textOut(line)
            x += self.widths[n]
        canvas.drawText(written)
        if rule is not None:
            canvas.setStrokeColor(rule[1])
            canvas.setLineWidth(rule[0])
            canvas.line(0, top - height, self.width, top - height)
        return top - height


@lru_cache(maxsize=8192)
def _split(words: str, face: str, size: float, room: float) -> tuple[str, ...]:
    """A cell's lines: at spaces, and a word longer than the column cut where it must (nothing is lost). Kept: the
    same dates, days and amounts come back letter after letter."""
    lines: list[str] = []
    for word in words.split(" "):  # at spaces only: "1 200,00 €" holds no-break spaces and stays whole
        if lines and pdfmetrics.stringWidth(f"{lines[-1]} {word}", face, size) <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    out = []
    for line in lines:
        while pdfmetrics.stringWidth(line, face, size) > room and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and pdfmetrics.stringWidth(line[:cut], face, size) > room:
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return tuple(out)


def _widths(table: TextTable) -> list[float]:
    if table.widths:
        return [WIDTH * share for share in table.widths]
    wanted = []
    for column in range(len(table.head)):
        cells = [table.head[column], *(row[column] for row in table.rows if column < len(row))]
        wanted.append(max(pdfmetrics.stringWidth(c, "Sans", 8.5) for c in cells) + 4 * MM + 1)
    scale = WIDTH / sum(wanted)
    return [w * scale for w in wanted]


def _table(table: TextTable) -> Flowable:
    """The statement, or a table of the text: its header row on every page it runs on."""
    return _Rows(table.head, [(row, False) for row in table.rows], _widths(table), table.numbers, 8.5, 8.5 * 1.25,
                 (0.5, RULE), space=(1 * MM, 4 * MM))


def _boxes(sheet: LetterSheet) -> Flowable:
    """The payment box and the summary of the amounts, side by side, never split."""
    amounts = _Rows(None, [([label, amount], kind == "total") for label, amount, kind in sheet.sums],
                    [0.52 * WIDTH - 28 * MM, 28 * MM], [False, True], 9.5, 12, None, pad_right=0)
    sums = [_para(sheet.sums_title, "bold", "Sans-Bold"), Spacer(1, 1 * MM), amounts]
    row: list[list[object]]
    if not sheet.payment:
        row, widths = [[sums]], [0.52 * WIDTH]
    else:
        payment: list[Flowable] = []
        for n, (words, mono) in enumerate(sheet.payment):
            if n == 0:
                payment.append(_para(words, "small-bold", "Sans-Bold"))
            elif mono:
                payment.append(Paragraph(text(words) + f'<font name="Mono" size="8">{text(mono, "Mono")}</font>',
                                         styles()["small"]))
            else:
                payment.append(_para(words, "small"))
        if sheet.payment_url:
            payment += [Spacer(1, 1 * MM), _para(sheet.payment_url, "small")]
        row, widths = [[payment, "", sums]], [0.44 * WIDTH, 0.04 * WIDTH, 0.52 * WIDTH]
    boxes = Table(row, colWidths=widths, hAlign="RIGHT", spaceBefore=5 * MM)
    commands: list[tuple] = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 2.7 * MM),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]
    if sheet.payment:
        commands += [("BOX", (0, 0), (0, 0), 0.6, BORDER), ("LEFTPADDING", (0, 0), (0, 0), 3 * MM),
                     ("RIGHTPADDING", (0, 0), (0, 0), 3 * MM), ("TOPPADDING", (0, 0), (0, 0), 2.5 * MM),
                     ("BOTTOMPADDING", (0, 0), (0, 0), 2.5 * MM)]
    boxes.setStyle(TableStyle(commands))
    return KeepTogether([boxes])


class _Qr(Flowable):
    """The QR code of an address, drawn as squares (sharp at any size, however the viewer scales images): medium
    error correction, so a folded or smudged letter still scans."""

    def __init__(self, address: str, size: float) -> None:
        super().__init__()
        self.matrix = segno.make(address, error="m").matrix
        self.width = self.height = size

    def draw(self):
        canvas, module = self.canv, self.width / len(self.matrix)
        canvas.setFillColor(colors.black)
        path = canvas.beginPath()
        for y, line in enumerate(self.matrix):
            x = 0
            while x < len(line):  # one rectangle per run of dark modules
                if line[x]:
                    end = x
                    while end < len(line) and line[end]:
                        end += 1
                    path.rect(x * module, self.height - (y + 1) * module, (end - x) * module, module)
                    x = end
                else:
                    x += 1
        canvas.drawPath(path, stroke=0, fill=1)


def _page_link(link: tuple[str, str, str]) -> Flowable:
    title, words, address = link
    explained = [_para(title, "small-bold", "Sans-Bold"), _para(words, "small"),
                 Spacer(1, 1 * MM), Paragraph(f'<font name="Mono" size="7.5">{text(address, "Mono")}</font>',
                                              styles()["small"])]
    cells = [[_Qr(address, 22 * MM), explained]]
    table = Table(cells, colWidths=[26 * MM, WIDTH - 26 * MM], hAlign="LEFT", spaceBefore=5 * MM)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return KeepTogether([table])


def _paragraph(runs: Iterable[tuple[str, str]], style: str) -> Paragraph:
    markup = []
    for words, link in runs:
        if words == "\n":
            markup.append("<br/>")
        elif link:
            markup.append(f"<a href={quoteattr(link)}>{text(words)}</a>")
        else:
            markup.append(text(words))
    return Paragraph("".join(markup), styles()[style])


def story(sheet: LetterSheet) -> list[Flowable]:
    flow: list[Flowable] = [_Head(sheet), _para(sheet.place_date, "right")]
    if sheet.notice:
        flow.append(_Notice(sheet.notice))
    flow.append(_para(sheet.subject, "subject", "Sans-Bold"))
    blocks = [_table(block) if isinstance(block, TextTable) else _paragraph(block, "body") for block in sheet.body]
    if len(blocks) >= 2 and isinstance(blocks[-1], Paragraph):  # the closing line never alone on a page
        blocks[-2].keepWithNext = 1
    flow += blocks
    if sheet.statement is not None:
        flow += [CondPageBreak(30 * MM), _para(sheet.statement_title, "statement", "Sans-Bold"),
                 _table(sheet.statement)]
    if sheet.sums:
        flow.append(_boxes(sheet))
    if sheet.page_link:
        flow.append(_page_link(sheet.page_link))
    if sheet.signature:
        flow.append(Spacer(1, 8 * MM))
        flow.append(KeepTogether([_paragraph(_lines(sheet.signature), "signature")]))
    return flow


def _lines(value: str) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    for n, line in enumerate(value.splitlines()):
        runs += [("\n", "")] * bool(n) + [(line, "")]
    return runs


# --- pages ---------------------------------------------------------------------------------------------------

class _Numbered(Canvas):
    """A canvas that keeps its pages until the end, to write "n / N" on each."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._kept: list[dict] = []

    def showPage(self):  # noqa: N802 (ReportLab's name)
        self._kept.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._kept)
        for n, state in enumerate(self._kept, start=1):
            self.__dict__.update(state)
            self.setFont("Sans", 8)
            self.setFillColor(MUTED)
            self.drawRightString(PAGE_W - RIGHT, BOTTOM - 4 * MM - 8, f"{n} / {total}")
            super().showPage()
        super().save()


def _bands(sheet: LetterSheet):
    running = Paragraph(f'<font name="Sans-Bold" color="#1f5f8b">{text(sheet.running[0], "Sans-Bold")}</font>'
                        f"{text(sheet.running[1])}", styles()["running"])
    legal = _para(sheet.legal, "legal") if sheet.legal else None

    def first(canvas, _doc) -> None:
        if legal is not None:
            _w, height = legal.wrap(WIDTH - 36 * MM, BOTTOM)
            legal.drawOn(canvas, LEFT + 18 * MM, BOTTOM - 4 * MM - height)

    def later(canvas, doc) -> None:
        first(canvas, doc)
        _w, height = running.wrap(WIDTH, TOP_NEXT)
        rule = PAGE_H - TOP_NEXT + 5 * MM
        running.drawOn(canvas, LEFT, rule + 1 * MM)
        canvas.setStrokeColor(BORDER)
        canvas.setLineWidth(0.4)
        canvas.line(LEFT, rule, PAGE_W - RIGHT, rule)

    return first, later


def letter_pdf(sheet: LetterSheet) -> bytes:
    """The letter's PDF."""
    out = io.BytesIO()
    first, later = _bands(sheet)
    doc = BaseDocTemplate(out, pagesize=A4, title=sheet.title, subject=sheet.title, lang=sheet.language,
                          creator="Relance", author=sheet.company, leftMargin=LEFT, rightMargin=RIGHT,
                          topMargin=TOP_FIRST, bottomMargin=BOTTOM)
    frame_first = Frame(LEFT, BOTTOM, WIDTH, PAGE_H - TOP_FIRST - BOTTOM, 0, 0, 0, 0, id="first")
    frame_next = Frame(LEFT, BOTTOM, WIDTH, PAGE_H - TOP_NEXT - BOTTOM, 0, 0, 0, 0, id="next")
    doc.addPageTemplates([PageTemplate("first", [frame_first], onPage=first, autoNextPageTemplate="next"),
                          PageTemplate("next", [frame_next], onPage=later)])
    doc.build(story(sheet), canvasmaker=_Numbered)
    return out.getvalue()
