"""A one-sheet XLSX written as it goes: every cell an inline text string, nothing on disk.

openpyxl builds a workbook in memory (memory grows with the rows), and its
write-only mode spills the worksheet's XML, in the clear, to a temporary file.
An XLSX is a zip of a few XML parts; this writes them straight into a binary
sink (the encrypted file store), the worksheet row by row through a deflating
zip entry, so memory stays flat whatever the number of rows. Cells are inline
strings with the text number format (``@``): a spreadsheet shows them, never
runs or converts them. Strings are not shared (a shared-strings table would
have to be held whole until the end).
"""
import zipfile
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

STATIC_PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{CT}.styles+xml"/></Types>'),
    "_rels/.rels": (
        f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" Type="{REL}/officeDocument" '
        f'Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{PKG_REL}">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/></Relationships>'),
    "xl/styles.xml": (
        f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        f'<fills count="2"><fill><patternFill patternType="none"/></fill>'
        f'<fill><patternFill patternType="gray125"/></fill></fills>'
        f'<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        f'<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        f'<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        f'<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        f'<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'),
}
FLUSH_CHARS = 256 * 1024


class _Stream:
    """What zipfile needs of an output it cannot seek: write and flush."""

    def __init__(self, sink):
        self.sink = sink

    def write(self, data):
        self.sink.write(bytes(data))
        return len(data)

    def flush(self):
        pass


def _column(index):
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def write(sink, sheet_name, rows):
    """Write ``rows`` (lists of str) as the sheet ``sheet_name`` into ``sink``; returns rows written."""
    count = 0
    with zipfile.ZipFile(_Stream(sink), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in STATIC_PARTS.items():
            archive.writestr(name, HEAD + body)
        archive.writestr("xl/workbook.xml", (
            f'{HEAD}<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            f'<sheet name="{escape(sheet_name, {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            columns, buffer, size = [], [f'{HEAD}<worksheet xmlns="{MAIN}"><sheetData>'], 0
            for row in rows:
                count += 1
                while len(columns) < len(row):
                    columns.append(_column(len(columns)))
                cells = "".join(
                    f'<c r="{columns[i]}{count}" s="1" t="inlineStr"><is><t xml:space="preserve">'
                    f'{escape(value)}</t></is></c>'
                    for i, value in enumerate(row) if value)
                line = f'<row r="{count}">{cells}</row>'
                buffer.append(line)
                size += len(line)
                if size >= FLUSH_CHARS:
                    part.write("".join(buffer).encode("utf-8"))
                    buffer, size = [], 0
            buffer.append("</sheetData></worksheet>")
            part.write("".join(buffer).encode("utf-8"))
    return count
