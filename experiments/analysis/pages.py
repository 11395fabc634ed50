"""A report's page, written twice: report.md, whose figures are the PNG files beside it, and
report.html, self-contained (figures inlined). A Section is what the report's questions fill in."""
import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments.analysis.tables import render


@dataclass
class Section:
    """A question's answer: paragraphs, tables and figures; or, when the folder cannot answer it,
    the reason (`unanswered`), listed at the top of the page."""
    title: str
    # ("p", text) | ("table", DataFrame) | ("figure", path, caption) | ("html", fragment, what markdown says instead)
    blocks: list = field(default_factory=list)
    unanswered: str | None = None
    facts: dict = field(default_factory=dict)  # the numbers behind the sentences, by name

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, table: pd.DataFrame) -> None:
        self.blocks.append(("table", table))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(("figure", path, caption))

    def html(self, fragment: str, instead: str) -> None:
        """A part of the HTML page only (the markdown page says `instead`)."""
        self.blocks.append(("html", fragment, instead))


def markdown(folder: Path, intro: str, sections: list[Section], missing: list[str]) -> str:
    out = [f"# What {folder.resolve().name} answers", "", intro, ""]
    if missing:
        out += ["Not answered here: " + "; ".join(missing) + ".", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for kind, *rest in section.blocks:
            if kind == "p":
                out += [rest[0], ""]
            elif kind == "table":
                out += [render(rest[0], "markdown", index=False), ""]
            elif kind == "html":
                out += [rest[1], ""]
            else:
                path, caption = rest
                out += [f"![{caption}]({path.relative_to(folder).as_posix()})", ""]
    return "\n".join(out)


def inline(text: str) -> str:
    """Markdown's **bold** as HTML, the rest escaped."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if k % 2 else p for k, p in enumerate(parts))


def page(folder: Path, intro: str, sections: list[Section], missing: list[str]) -> str:
    body = [f"<h1>What {html.escape(folder.resolve().name)} answers</h1>", f"<p>{inline(intro)}</p>"]
    if missing:
        body.append(f"<p class=note>Not answered here: {inline('; '.join(missing))}.</p>")
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for kind, *rest in section.blocks:
            if kind == "p":
                body.append(f"<p>{inline(rest[0])}</p>")
            elif kind == "table":
                body.append(rest[0].to_html(index=False, border=0, classes="table"))
            elif kind == "html":
                body.append(rest[0])
            else:
                path, caption = rest
                data = base64.b64encode(path.read_bytes()).decode()
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;"
             "text-align:left}img{max-width:100%}figcaption{color:#555;font-size:.9rem}.note{color:#555}")
    title = html.escape(folder.resolve().name)
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{title}: report"
            f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
