"""The datasets' file layouts as the demo writes them: the manifest's name,
the clips' folders, image encoding, the CASME II coding sheets (a minimal
.xlsx writer), the landmarks CSV and the folder tree written below a
temporary folder."""
import io
import os
import zipfile

from microattention.datasets.ckplus import CODES
from microattention.datasets.objective import NAMES, ROMAN
from microattention.faces.aus import CLASS_AUS

MANIFEST = "demo-data.json"
# the objective classes (numbers 1-5), in order
CLASSES = sorted(CLASS_AUS)

# CASME II's 'Estimated Emotion' words (it has no 'anger': such clips are
# coded 'others' there).
CASME2_EMOTION = {1: "happiness", 2: "surprise", 3: "others", 4: "disgust", 5: "sadness",
                  6: "fear", 7: "others"}
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def clip_folder(dataset, subject, clip):
    """The frame folder of a clip, relative to OUT/<dataset>, as the manifest
    names it: CASME II Cropped/subNN/EPcc_kk (subject: its number), CK+
    cohn-kanade-images/SNNN/NNN (clip: SNNN_NNN)."""
    if dataset == "casme2":
        return "Cropped/sub%02d/%s" % (subject, clip)
    return "cohn-kanade-images/%s/%s" % (subject, clip[len(subject) + 1:])


def casme2_names(identity, number, k):
    """(subject number, clip name) of clip k of class `number` of person
    number `identity`: subNN's EPcc_kk."""
    return identity + 1, "EP%02d_%02d" % (number, k + 1)


def ckplus_names(identity, sequence):
    """(subject, clip) of sequence number `sequence` of person number
    `identity`: S005's S005_001 (CK+ subjects start at S005)."""
    subject = "S%03d" % (5 + identity)
    return subject, "%s_%03d" % (subject, sequence)


def frame_name(dataset, clip, number):
    """A frame's file name in its clip folder: CASME II reg_imgN.jpg (N the
    frame number), CK+ SNNN_NNN_0000000N.png (N from 1)."""
    return "reg_img%d.jpg" % number if dataset == "casme2" else "%s_%08d.png" % (clip, number)


def ckplus_label(subject, clip, last, code):
    """(path relative to OUT/ckplus, text) of a CK+ sequence's emotion file,
    named after its last frame."""
    return ("Emotion/%s/%s/%s_%08d_emotion.txt" % (subject, clip[len(subject) + 1:], clip, last),
            "   %.7e\n" % code)


def encode(image, ext):
    import cv2  # lazy: keeps --help fast
    # Huffman-only PNG: noisy frames barely compress further, at twice the cost.
    params = []   # .bmp, .tiff (SMIC, JAFFE): OpenCV's defaults
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
                  cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise RuntimeError("OpenCV could not encode a %s image" % ext)
    return data.tobytes()


def _cell(ref, value):
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return '<c r="%s"><v>%s</v></c>' % (ref, value)
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return '<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, text)


XLSX_PARTS = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def xlsx_bytes(header, rows, preamble=()):
    """A one-sheet .xlsx workbook, written directly (the smallest valid
    SpreadsheetML package): fixed zip timestamps and no save-time stamp, so
    the same seed gives the same bytes; and no openpyxl import (about half a
    second of CPU). `preamble`: rows of free text above the header (SAMM's
    sheet has its header on row 14)."""
    lines = []
    for number, row in enumerate(list(preamble) + [header] + list(rows), start=1):
        cells = "".join(_cell("%s%d" % (chr(ord("A") + col), number), value)
                        for col, value in enumerate(row))
        lines.append('<row r="%d">%s</row>' % (number, cells))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData>%s</sheetData></worksheet>' % "".join(lines))
    parts = dict(XLSX_PARTS, **{"xl/worksheets/sheet1.xml": sheet})
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as book:
        for name in sorted(parts):
            entry = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            book.writestr(entry, parts[name].encode("utf-8"))
    return data.getvalue()


class Tree:
    """Files written below a temporary folder, renamed into place at the end."""

    def __init__(self, folder):
        self.folder = folder

    def write(self, relative, data):
        path = os.path.join(self.folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def casme2_sheets(tree, clips):
    number = {roman: n for n, roman in ROMAN.items()}
    tree.write("casme2/CASME2-coding-20190701.xlsx", xlsx_bytes(
        ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
         "Action Units", "Estimated Emotion"],
        [[c["subject"], c["clip"], None, c["onset"], c["apex"], c["offset"], None, c["aus"],
          CASME2_EMOTION[number[c["class"]]]]
         for c in clips]))
    tree.write("casme2/CASME2-ObjectiveClasses.xlsx", xlsx_bytes(
        ["Subject", "Filename", "Objective Class"],
        [[c["subject"], c["clip"], number[c["class"]]]
         for c in clips]))


def landmarks_csv(rows):
    header = ["frame_path"] + ["%s%d" % (axis, i) for i in range(68) for axis in "xy"]
    lines = [",".join(header)]
    fmt = "%s" + ",%.2f" * 136
    for path, pts in rows:
        lines.append(fmt % ((path,) + tuple(pts.reshape(-1).tolist())))
    return "\n".join(lines) + "\n"


def ckplus_codes():
    """Objective class -> CK+ emotion code, through the CK+ reader's table."""
    by_name = {name: code for code, name in CODES.items()}
    return {number: by_name[NAMES[number]] for number in CLASSES}
