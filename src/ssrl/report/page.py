"""The report's HTML: one self-contained page (inline CSS, images as base64 data URIs, no script),
so ``report.html`` can be mailed, archived or opened from any folder and look the same.

Every piece of text goes through ``html.escape``: metric names, file names and configuration
values come from the run directory, which may have been handed to us by anyone.
"""

import base64
import html
from dataclasses import dataclass

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; } th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } img.pixels { image-rendering: pixelated; } figure { margin: 1em 0; }
figcaption { color: #555; font-size: .9em; } .missing { color: #8a5a00; background: #fff6e0; padding: .5em .8em; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; } nav a { margin-right: 1em; }
.warning { color: #a00000; background: #fdecea; padding: .5em .8em; }
"""


class Missing(Exception):
    """A section has nothing to show; the message says why, and the report prints it there."""


@dataclass
class Section:
    id: str       # the HTML id (and the navigation anchor)
    title: str
    body: str     # HTML


def esc(value) -> str:
    return html.escape(str(value))


def image(png: bytes, alt: str, caption: str = "", width: int | None = None) -> str:
    """A PNG inlined as a data URI; ``width`` (px) scales small pictures up, pixels kept sharp."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    size = f' width="{width}" class="pixels"' if width else ""
    return f'<figure><img alt="{esc(alt)}"{size} src="data:image/png;base64,{data}">{cap}</figure>'


def missing(reason: str) -> str:
    return f'<p class="missing">{esc(reason)}</p>'


def cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{esc(value)}</td>"


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def document(title: str, intro: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            '<link rel="icon" href="data:,">'  # no favicon request: the page loads nothing from outside
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>{intro}<nav>{nav}</nav>{body}</body></html>\n")
