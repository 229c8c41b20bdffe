"""Many invoice PDFs at once: a ZIP (or a folder, from the command line) of files named by invoice number
(`FA-2026-0001.pdf`, any case, at the top or inside one folder), each stored byte for byte as that invoice's PDF
(`invoice_pdf.store_pdf`, the upload checks of `invoice_pdf.read_upload`).

All or nothing, like the CSV imports: `plan_pdfs` reads and checks every file and lists the refused ones with their
reason (not a PDF, no invoice with that number, too big, the same invoice twice, the archive larger than
MAX_TOTAL_BYTES once uncompressed or holding more than MAX_FILES files: the zip-bomb guard, checked on the sizes
the archive declares and again on the bytes really read); `store_pdfs` writes a plan without refusals (the
previous PDFs of those invoices are removed once the caller has committed: `remove_replaced`). The caller commits,
inside `saving()`, which cleans up either way.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relance.models import Invoice
from relance.services import audit, files
from relance.services.letters.invoice_pdf import PdfUploadError, max_pdf_bytes, read_upload, store_pdf

MAX_TOTAL_BYTES = 500 * 1024 * 1024  # uncompressed, all files together
MAX_FILES = 5000


@dataclass
class Refusal:
    name: str  # the file's name in the archive or folder
    message: object  # lazy translated

    @property
    def text(self) -> str:
        return str(self.message)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass
class PdfPlan:
    source: str = ""
    accepted: list[tuple[str, int, str, bytes]] = field(default_factory=list, repr=False)  # name, id, number, data
    replaced: list[str] = field(default_factory=list)  # invoice numbers that had an uploaded PDF
    refused: list[Refusal] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)  # after store_pdfs: the numbers
    old_paths: list[str] = field(default_factory=list, repr=False)
    new_paths: list[str] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.refused and bool(self.accepted)


class _TooLarge(Exception):
    pass


def _members_of_zip(data: bytes, plan: PdfPlan) -> Iterator[tuple[str, bytes | Exception]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        plan.refused.append(Refusal(plan.source, _l("This file is not a ZIP archive.")))
        return
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_FILES:
        plan.refused.append(Refusal(plan.source, _l(
            "The archive holds %(count)s files; at most %(limit)s at once.", count=len(infos), limit=MAX_FILES)))
        return
    if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        plan.refused.append(Refusal(plan.source, _l(
            "The archive is larger than %(limit)s MB once uncompressed: send it in several parts.",
            limit=MAX_TOTAL_BYTES // 1024 // 1024)))
        return
    limit = max_pdf_bytes()
    total = 0
    for info in infos:
        try:
            with archive.open(info) as handle:
                content = handle.read(limit + 1)  # never more than one file's limit, whatever the header says
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            yield info.filename, exc
            continue
        total = _counted(plan, total, content)
        yield info.filename, content


def _counted(plan: PdfPlan, total: int, content: bytes) -> int:
    """The bytes read so far with `content`; over MAX_TOTAL_BYTES the plan is refused and reading stops."""
    total += len(content)
    if total > MAX_TOTAL_BYTES:
        plan.refused.append(Refusal(plan.source, _l(
            "The archive is larger than %(limit)s MB once uncompressed: send it in several parts.",
            limit=MAX_TOTAL_BYTES // 1024 // 1024)))
        raise _TooLarge()
    return total


def _members_of_folder(folder: Path, plan: PdfPlan) -> Iterator[tuple[str, bytes | Exception]]:
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and len(p.relative_to(folder).parts) <= 2)
    if len(paths) > MAX_FILES:
        plan.refused.append(Refusal(plan.source, _l(
            "The archive holds %(count)s files; at most %(limit)s at once.", count=len(paths), limit=MAX_FILES)))
        return
    limit = max_pdf_bytes()
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            content = handle.read(limit + 1)
        total = _counted(plan, total, content)
        yield path.relative_to(folder).as_posix(), content


def plan_pdfs(session: Session, *, data: bytes | None = None, folder: Path | None = None,
              source: str = "") -> PdfPlan:
    """Check a ZIP (`data`) or a folder: every file a PDF named after an existing invoice. Nothing is written."""
    plan = PdfPlan(source=source)
    members = _members_of_folder(folder, plan) if folder is not None else _members_of_zip(data or b"", plan)
    wanted: list[tuple[str, str, bytes]] = []
    try:
        for name, content in members:
            path = PurePosixPath(name)
            if path.name.startswith(".") or "__MACOSX" in path.parts:
                continue  # macOS and editors' hidden files: not the user's documents
            if len(path.parts) > 2:
                plan.refused.append(Refusal(name, _l(
                    "The file is more than one folder deep: put the PDFs at the top or in one folder.")))
                continue
            if isinstance(content, Exception):
                plan.refused.append(Refusal(name, _l("The file cannot be read from the archive (%(detail)s).",
                                                     detail=str(content)[:200])))
                continue
            if path.suffix.lower() != ".pdf":
                plan.refused.append(Refusal(name, _l("Not a PDF: the files must be named NUMBER.pdf.")))
                continue
            try:
                checked = read_upload(io.BytesIO(content))
            except PdfUploadError as exc:
                plan.refused.append(Refusal(name, exc.message))
                continue
            wanted.append((name, path.stem, checked))
    except _TooLarge:
        plan.accepted = []
        return plan
    by_number: dict[str, tuple[int, str, str | None]] = {}
    lowered = sorted({stem.lower() for _, stem, _ in wanted})
    for start in range(0, len(lowered), 1000):
        for row in session.execute(select(Invoice.id, Invoice.number, Invoice.pdf_path)
                                   .where(func.lower(Invoice.number).in_(lowered[start:start + 1000]))):
            by_number.setdefault(row.number.lower(), (row.id, row.number, row.pdf_path))
    seen: dict[int, str] = {}
    for name, stem, content in wanted:
        found = by_number.get(stem.lower())
        if found is None:
            plan.refused.append(Refusal(name, _l('No invoice has the number "%(number)s".', number=stem)))
            continue
        invoice_id, number, old = found
        if invoice_id in seen:
            plan.refused.append(Refusal(name, _l("Invoice %(number)s has another PDF in the archive: %(other)s.",
                                                 number=number, other=seen[invoice_id])))
            continue
        seen[invoice_id] = name
        plan.accepted.append((name, invoice_id, number, content))
        if old:
            plan.replaced.append(number)
            plan.old_paths.append(old)
    if not plan.accepted and not plan.refused:
        plan.refused.append(Refusal(plan.source, _l("No PDF file was found.")))
    if plan.refused:
        plan.accepted = []
    return plan


def store_pdfs(session: Session, plan: PdfPlan, user=None) -> None:
    """Store every accepted PDF as its invoice's file and record it in the audit log (the caller commits, then calls
    `remove_replaced`; on a rollback, `discard` removes the files written)."""
    if not plan.ok:
        raise ValueError("a plan with refusals can't be stored")
    invoices = {i.id: i for i in session.scalars(select(Invoice).where(
        Invoice.id.in_([invoice_id for _, invoice_id, _, _ in plan.accepted])))}
    for _name, invoice_id, number, content in plan.accepted:
        invoices[invoice_id].pdf_path = store_pdf(content)
        plan.new_paths.append(invoices[invoice_id].pdf_path or "")
        plan.stored.append(number)
    audit.record(session, user, "import", "pdfs", after={
        "file": plan.source, "stored": len(plan.stored), "replaced": len(plan.replaced)})
    session.flush()


@contextmanager
def saving(session: Session, plan: PdfPlan, user=None) -> Iterator[PdfPlan]:
    """`store_pdfs` for a caller that commits inside the block: on an error (in the write or the commit) the session
    is rolled back and the files written removed; after the block, the PDFs they replaced."""
    try:
        store_pdfs(session, plan, user)
        yield plan
    except BaseException:
        session.rollback()
        discard(plan)
        raise
    remove_replaced(plan)


def remove_replaced(plan: PdfPlan) -> None:
    """After the commit: the previous uploads of the invoices that got a new PDF."""
    for relative in plan.old_paths:
        path = files.resolve(relative)
        if path is not None:
            path.unlink(missing_ok=True)


def discard(plan: PdfPlan) -> None:
    """After a rollback: remove the files `store_pdfs` wrote (no invoice names them)."""
    for relative in plan.new_paths:
        path = files.resolve(relative)
        if path is not None:
            path.unlink(missing_ok=True)
    plan.new_paths, plan.stored = [], []
