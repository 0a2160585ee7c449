"""Real sample files, made on the fly, for the attachment store's tests.

Every helper returns the bytes of a file built here (nothing is checked in),
so a test shows exactly what it feeds the store. ``write_sample`` puts bytes
on disk under a given name for tests that need a path.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, String

# -- PDF ------------------------------------------------------------------------


def _blank_pdf() -> pikepdf.Pdf:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    return pdf


def _save(pdf: pikepdf.Pdf, **options) -> bytes:
    out = io.BytesIO()
    pdf.save(out, **options)
    return out.getvalue()


def _javascript_action(script: str = "app.alert('hello');") -> Dictionary:
    return Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String(script))


def pdf() -> bytes:
    """A valid one-page PDF with nothing active in it."""
    return _save(_blank_pdf())


def pdf_with_open_action_javascript(*, object_streams: bool = False) -> bytes:
    """JavaScript run when the document opens (/OpenAction /S /JavaScript).

    With ``object_streams`` the objects are packed into compressed object
    streams, where a scan of the raw bytes would not see them.
    """
    document = _blank_pdf()
    document.Root.OpenAction = document.make_indirect(_javascript_action())
    if object_streams:
        return _save(document, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return _save(document)


def pdf_with_javascript_name_tree() -> bytes:
    """Document-level JavaScript in the catalog's /Names /JavaScript tree."""
    document = _blank_pdf()
    action = document.make_indirect(_javascript_action())
    document.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("init"), action])))
    return _save(document)


def pdf_with_javascript_annotation() -> bytes:
    """A link annotation whose action (/A) is JavaScript, held directly in the annotation."""
    document = _blank_pdf()
    annotation = Dictionary(
        Type=Name.Annot,
        Subtype=Name.Link,
        Rect=Array([10, 10, 100, 100]),
        A=_javascript_action("this.submitForm('http://example.invalid/');"),
    )
    document.pages[0].Annots = Array([document.make_indirect(annotation)])
    return _save(document)


def pdf_with_page_additional_action() -> bytes:
    """JavaScript on the page's additional actions (/AA /O: when the page opens)."""
    document = _blank_pdf()
    document.pages[0].obj.AA = Dictionary(O=_javascript_action())
    return _save(document)


def pdf_with_hex_escaped_javascript() -> bytes:
    """JavaScript whose names are hex-escaped (/J#61vaScript, /J#53), written by hand.

    A search of the bytes for "/JavaScript" misses it; a PDF reader does not.
    """
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def pdf_with_launch_action() -> bytes:
    """A /Launch action that would start a program when the document opens."""
    document = _blank_pdf()
    document.Root.OpenAction = Dictionary(
        Type=Name.Action, S=Name.Launch, F=String("C:\\Windows\\System32\\calc.exe")
    )
    return _save(document)


def pdf_with_embedded_file() -> bytes:
    """A file attached to the document (the /Names /EmbeddedFiles tree)."""
    document = _blank_pdf()
    document.attachments["payload.exe"] = pikepdf.AttachedFileSpec(
        document, b"MZ\x90\x00not really a program", mime_type="application/octet-stream"
    )
    return _save(document)


def pdf_with_file_attachment_annotation() -> bytes:
    """A file attached to a page through a /FileAttachment annotation (no name tree)."""
    document = _blank_pdf()
    embedded = document.make_stream(b"secret payload")
    embedded.Type = Name.EmbeddedFile
    spec = Dictionary(Type=Name.Filespec, F=String("note.txt"), EF=Dictionary(F=embedded))
    annotation = Dictionary(
        Type=Name.Annot,
        Subtype=Name.FileAttachment,
        Rect=Array([10, 10, 30, 30]),
        FS=document.make_indirect(spec),
    )
    document.pages[0].Annots = Array([document.make_indirect(annotation)])
    return _save(document)


def pdf_encrypted(*, user_password: str = "open sesame") -> bytes:
    """An encrypted PDF; with an empty ``user_password`` it opens without one."""
    return _save(
        _blank_pdf(),
        encryption=pikepdf.Encryption(owner="owner secret", user=user_password, R=6),
    )


# -- Office documents -----------------------------------------------------------

_DOCX_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="{main}"/>{extra}
</Types>"""

_DOCX_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
 Target="word/document.xml"/>
</Relationships>"""

_DOCX_DOCUMENT = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body>
</w:document>"""

DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def docx(text: str = "Proposal: monitoring election disinformation") -> bytes:
    """A minimal valid Word document (as Word writes it: the parts and their content types)."""
    return _docx(DOCX_MAIN, text)


def docm(text: str = "A document with macros") -> bytes:
    """A macro-enabled Word document (DOCM), whatever its name says."""
    return _docx(DOCM_MAIN, text, macros=True)


def docx_with_macros() -> bytes:
    """A document that declares itself a plain DOCX but carries a VBA project."""
    return _docx(DOCX_MAIN, "Looks plain", macros=True)


def _docx(main: str, text: str, *, macros: bool = False) -> bytes:
    extra = ""
    if macros:
        extra = (
            '\n<Override PartName="/word/vbaProject.bin" '
            'ContentType="application/vnd.ms-office.vbaProject"/>'
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_CONTENT_TYPES.format(main=main, extra=extra))
        archive.writestr("_rels/.rels", _DOCX_RELS)
        archive.writestr("word/document.xml", _DOCX_DOCUMENT.format(text=text))
        if macros:
            archive.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake VBA project")
    return out.getvalue()


def xlsx() -> bytes:
    """A real workbook written by openpyxl."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Category", "Description", "Amount"])
    sheet.append(["Staff", "Researcher, 6 months", 12000])
    sheet.append(["Travel", "Two field visits", 3000])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


ODT_MIMETYPE = "application/vnd.oasis.opendocument.text"
ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"

_ODF_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
 manifest:version="1.3">
<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""

_ODT_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">
<office:body><office:text><text:p>Letter of support</text:p></office:text></office:body>
</office:document-content>"""

_ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">
<office:body><office:spreadsheet><table:table table:name="Budget"><table:table-row>
<table:table-cell><text:p>Staff</text:p></table:table-cell>
</table:table-row></table:table></office:spreadsheet></office:body>
</office:document-content>"""


def _opendocument(
    mimetype: str, content: str, *, macros: bool = False, mimetype_first: bool = True
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = [
            ("META-INF/manifest.xml", _ODF_MANIFEST.format(mimetype=mimetype)),
            ("content.xml", content),
        ]
        if macros:
            entries.append(("Basic/Standard/Module1.xml", "<script>Sub Main\nEnd Sub</script>"))
        if mimetype_first:
            # The standard: the first entry, stored uncompressed, so `file` can read it.
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, zipfile.ZIP_STORED)
        for name, text in entries:
            archive.writestr(name, text)
        if not mimetype_first:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, zipfile.ZIP_STORED)
    return out.getvalue()


def odt() -> bytes:
    """A minimal valid OpenDocument text."""
    return _opendocument(ODT_MIMETYPE, _ODT_CONTENT)


def ods() -> bytes:
    """A minimal valid OpenDocument spreadsheet."""
    return _opendocument(ODS_MIMETYPE, _ODS_CONTENT)


def odt_with_macros() -> bytes:
    """An OpenDocument text carrying a Basic macro library."""
    return _opendocument(ODT_MIMETYPE, _ODT_CONTENT, macros=True)


def odt_mimetype_not_first() -> bytes:
    """An OpenDocument look-alike whose "mimetype" entry is not the first one."""
    return _opendocument(ODT_MIMETYPE, _ODT_CONTENT, mimetype_first=False)


# -- Text -----------------------------------------------------------------------

CSV_TEXT = "Category,Description,Amount\nStaff,Chercheuse à Dakar,12000\nTravel,Field visits,3000\n"
CSV_CP1252_TEXT = (
    "Catégorie;Description;Montant\nPersonnel;Côte d\u2019Ivoire \u2013 enquête;12000\n"
)


def csv_utf8(*, bom: bool = False) -> bytes:
    """A UTF-8 CSV (optionally with the byte-order mark Excel writes)."""
    return (b"\xef\xbb\xbf" if bom else b"") + CSV_TEXT.encode("utf-8")


def csv_cp1252() -> bytes:
    """A semicolon CSV in Windows-1252, as French Excel saves it.

    Its apostrophe (U+2019) and dash (U+2013) are not in Latin-1.
    """
    return CSV_CP1252_TEXT.encode("cp1252")


# -- Things that must be refused ------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png() -> bytes:
    """A real one-pixel PNG image (to be renamed .pdf by the tests)."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def html(*, leading: bytes = b"") -> bytes:
    """An HTML page with a script (to be renamed .pdf or .csv by the tests)."""
    return leading + (
        b"<!DOCTYPE html><html><head><title>x</title></head>"
        b"<body><script>alert(document.cookie)</script>a,b,c</body></html>"
    )


def exe() -> bytes:
    """The start of a Windows executable: the "MZ" header and its DOS stub."""
    return (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
        + b"\xb8" + b"\x00" * 7 + b"\x40" + b"\x00" * 35
        + b"\x0e\x1f\xba\x0e\x00\xb4\t\xcd!\xb8\x01L\xcd!"
        + b"This program cannot be run in DOS mode.\r\r\n$"
    )  # fmt: skip


def plain_zip() -> bytes:
    """A zip archive that is not an office document."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "just some files")
        archive.writestr("data/list.csv", "a,b\n1,2\n")
    return out.getvalue()


def empty() -> bytes:
    """A zero-byte file."""
    return b""


def write_sample(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``folder/name`` (the name a browser would send) and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path
