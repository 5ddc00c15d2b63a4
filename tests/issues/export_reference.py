"""The export as it was written before it was made fast (issues/exports.py before export-fast), kept as the reference
the fast export must match byte for byte: rows built from model instances with their prefetches, times converted
by the zone's rules, CSV cells one call each, XLSX through openpyxl's write-only cells. Only tests import it."""

import csv
from datetime import datetime

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from issues import exports


def local(value):
    if value is None:
        return None
    return timezone.localtime(value, exports.SHANGHAI).replace(tzinfo=None, microsecond=0)


def rows(*, queryset, viewer, unmasked, lang, monkeypatch):
    """Return the rows export_row builds from model instances, with the zone's rules for the times."""
    labels = exports.export_labels(lang=lang)
    issues = queryset.select_related("grid__parent__parent__parent")[: exports.EXPORT_MAX_ROWS]
    with monkeypatch.context() as patch:
        patch.setattr(exports, "_local", local)
        return [
            exports.export_row(issue=issue, viewer=viewer, unmasked=unmasked, labels=labels)
            for issue in issues.iterator(chunk_size=exports.EXPORT_CHUNK_SIZE)
        ]


def _csv_cell(value, *, lang):
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("是" if value else "否")
    if isinstance(value, datetime):
        return value.strftime(exports.TIME_FORMAT)
    text = str(value)
    return "'" + text if text.startswith(exports.FORMULA_STARTS) else text


class _Line:
    def write(self, value):
        return value


def csv_bytes(*, rows, lang) -> bytes:
    writer = csv.writer(_Line())
    out = ["\ufeff".encode() + writer.writerow(exports.export_headers(lang=lang)).encode()]
    for row in rows:
        out.append(writer.writerow([_csv_cell(value, lang=lang) for value in row]).encode())
    return b"".join(out)


def _xlsx_cell(sheet, value):
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"
    return cell


def xlsx_write(*, rows, lang, out) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("issues" if lang == "en" else "诉求")
    sheet.append(exports.export_headers(lang=lang))
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(out)
