"""The report's document model and its two renderings: Markdown and a
self-contained HTML page (CSS and figures inline).
"""
import base64
import html
import re

# ------------------------------------------------------------------ document model
# A list of blocks rendered both to Markdown and to HTML:
#   ("h", level, text) ("p", text) ("warn", text) ("table", header, rows)
#   ("img", file name, caption, png bytes) ("list", items)
# Text may hold **bold** and `code`.


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks):
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "warn":
            out.append("> **WARNING:** " + block[1])
        elif kind == "list":
            out.append("\n".join("- " + item for item in block[1]))
        elif kind == "table":
            header, rows = block[1], block[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append("![%s](%s)\n\n*%s*" % (block[2], block[1], block[2]))
        out.append("")
    return "\n".join(out)


def _inline_html(text):
    text = html.escape(str(text), quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return text


CSS = """
body { font-family: sans-serif; max-width: 80em; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1, h2, h3 { color: #123; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; }
th { background: #eef; }
td:first-child, th:first-child { text-align: left; }
tr.ours td { background: #fff6d8; font-weight: bold; }
.warn { background: #fdd; border: 2px solid #c00; padding: 0.5em; font-weight: bold; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
code { background: #f3f3f3; padding: 0 0.2em; }
""".strip()


def to_html(blocks, title):
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<title>%s</title>" % html.escape(title), "<style>", CSS, "</style>", "</head>",
           "<body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("<h%d>%s</h%d>" % (block[1], _inline_html(block[2]), block[1]))
        elif kind == "p":
            out.append("<p>%s</p>" % _inline_html(block[1]))
        elif kind == "warn":
            out.append('<p class="warn">WARNING: %s</p>' % _inline_html(block[1]))
        elif kind == "list":
            out.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _inline_html(i)
                                               for i in block[1]))
        elif kind == "table":
            header, rows = block[1], block[2]
            out.append("<table>")
            out.append("<tr>%s</tr>" % "".join("<th>%s</th>" % _inline_html(h) for h in header))
            for row in rows:
                ours = "this run" in str(row[0])
                out.append('<tr%s>%s</tr>' % (' class="ours"' if ours else "", "".join(
                    "<td>%s</td>" % _inline_html(c) for c in row)))
            out.append("</table>")
        elif kind == "img":
            data = base64.b64encode(block[3]).decode("ascii")
            out.append('<figure><img alt="%s" src="data:image/png;base64,%s">'
                       "<figcaption>%s</figcaption></figure>"
                       % (html.escape(block[2]), data, _inline_html(block[2])))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)

