"""The HTML pages as a reader sees them: headless Chromium, the network off.

Writes the runbook of each plan (`migrator docs PLAN --output html`) and, given a run,
its report (`migrator report RUN --output html`) into OUTDIR, opens each page in
headless Chromium with every network request refused, and writes what a person would
see: a screenshot at desktop width (1280x900) and at phone width (390x844), and the
page printed to PDF (the print styles). Then it checks each page:

- its phase diagram is there after load, as inline SVG (`svg.phase-diagram`, a
  `g.phase` per phase: for a runbook, exactly the plan's phases, compared as the page
  can show them: a control character XML cannot hold is U+FFFD there);
- at each width the diagram is drawn on the screen, not only in the DOM: rendered (not
  display:none, hidden, transparent, 0x0, nor inert in a <template>), inside the window's
  width, its phase names at least MIN_LABEL_PX high as drawn (the SVG scaled to fit);
- it stays where it is: no `<meta http-equiv=refresh>` taking the reader elsewhere;
- the page asked the network for nothing (Chromium's net log holds no http(s) or
  ws(s) request: a diagram drawn by a script from a CDN would be one);
- the page has a viewport, and no script;
- each screenshot was written and is not blank: something is drawn on it (one line of
  text is enough; one colour from edge to edge is blank);
- at each width the page is no wider than the window: a reader on a phone never scrolls
  sideways to read it (wide tables and code scroll inside their own box). The width is
  measured by a small page of this script's that holds the page in a frame of that size.

    python scripts/check_pages.py OUTDIR
    python scripts/check_pages.py OUTDIR --plan plans/ir-07-profiles-rls-hotfix.yaml
    MIGRATOR_DSN=postgresql://... python scripts/check_pages.py OUTDIR --run 12

The default plan is plans/scoring-results.yaml. Exits 0 when every check holds, 1 naming
each one that does not, 2 when no Chromium is found (`apt-get install
chromium-headless-shell`, or `chromium`; `--browser PATH` names one). tests/e2e/
test_pages_in_chromium.py runs the same checks; CI (.ci/run) installs the browser.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
OFFLINE = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    # Every host name resolves to nothing, and anything that went past the resolver
    # would meet a proxy that is not there: no request reaches a network.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
)
NETWORK_URL = re.compile(r"\b(?:https?|wss?|ftp)://[^\s\"'<>]+", re.I)
INSTALL_HINT = "apt-get install chromium-headless-shell (or chromium)"
MIN_LABEL_PX = 8.0  # the smallest a phase's name may be drawn, in CSS pixels
# What the page can show of a name: characters XML cannot hold are U+FFFD in the SVG
# (migrator.views.diagram_svg), and HTML reads a carriage return as a line feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def as_shown(name: str) -> str:
    """`name` as a page's DOM holds it."""
    return _NOT_XML.sub("\ufffd", name.replace("\r\n", "\n").replace("\r", "\n"))


def find_browser(named: str | None = None) -> str | None:
    """The Chromium to use: `named`, else $MIGRATOR_CHROMIUM, else the first on PATH."""
    for candidate in (named, os.environ.get("MIGRATOR_CHROMIUM"), *BROWSERS):
        if candidate:
            found = shutil.which(candidate)
            if found:
                return found
    return None


# -- what Chromium made of a page ----------------------------------------------------------


@dataclass
class Picture:
    """A screenshot, read back: its size, and how much of it is not the background."""

    path: Path
    width: int
    height: int
    colours: int  # distinct colours (up to 4096 counted)
    drawn: float  # the share of pixels not of the most common colour

    @property
    def blank(self) -> bool:
        """Nothing drawn at all: every pixel counted is of one colour."""
        return self.colours < 2


@dataclass
class Layout:
    """How a page is laid out in a window: its width and the window's (CSS pixels), and
    its diagram as drawn there: `diagram` (left, top, width, height, rendered) or None
    when no svg.phase-diagram is in the document, `label_px` the smallest phase name
    as drawn (None: none drawn)."""

    page: int
    window: int
    diagram: tuple[float, float, float, float, bool] | None = None
    label_px: float | None = None

    def problems(self, name: str) -> list[str]:
        """What a reader at this width would miss of the diagram."""
        if self.diagram is None:
            return [f"at {name} width no svg.phase-diagram is in the document (inert?)"]
        left, _, width, height, rendered = self.diagram
        if not rendered or width < 1 or height < 1:
            return [f"at {name} width the diagram is not drawn ({width:g}x{height:g} px)"]
        found = []
        if left < -0.5 or left + width > self.window + 0.5:
            found.append(
                f"at {name} width the diagram spans {left:g} to {left + width:g} px "
                f"of a {self.window} px window"
            )
        if self.label_px is None or self.label_px < MIN_LABEL_PX:
            size = "no" if self.label_px is None else f"{self.label_px:.1f} px"
            found.append(
                f"at {name} width the phase names are drawn {size} high (under {MIN_LABEL_PX:g} px)"
            )
        return found


@dataclass
class Page:
    """One page as loaded by the browser: its DOM's facts, its requests, its screenshots."""

    path: Path
    diagrams: int = 0
    phases: list[str] = field(default_factory=list)
    scripts: int = 0
    viewport: bool = False
    requests: list[str] = field(default_factory=list)
    pictures: dict[str, Picture] = field(default_factory=dict)
    widths: dict[str, tuple[int, int]] = field(default_factory=dict)  # (page, window)
    layouts: dict[str, Layout] = field(default_factory=dict)
    refresh: list[str] = field(default_factory=list)  # <meta http-equiv=refresh> contents
    pdf: Path | None = None

    def problems(self, phases: list[str] | None = None) -> list[str]:
        """What a reader would miss. `phases`: exactly the phases the diagram must draw."""
        found = []
        if self.diagrams != 1:
            found.append(f"{self.diagrams} svg.phase-diagram after load, not 1")
        elif phases is not None and sorted(self.phases) != sorted(map(as_shown, phases)):
            found.append(f"the diagram draws phases {self.phases}, not {phases}")
        elif not self.phases:
            found.append("the diagram draws no g.phase")
        if self.requests:
            found.append(f"it asked the network for {', '.join(sorted(set(self.requests)))}")
        if self.scripts:
            found.append(f"{self.scripts} <script> element(s)")
        if not self.viewport:
            found.append("no <meta name=viewport>")
        for content in self.refresh:
            found.append(f"it navigates away: <meta http-equiv=refresh content={content!r}>")
        if self.diagrams == 1:
            for name, layout in self.layouts.items():
                found += layout.problems(name)
        for name, picture in self.pictures.items():
            if picture.blank:
                found.append(f"the {name} screenshot is blank")
            if (picture.width, picture.height) != SIZES[name]:
                found.append(f"the {name} screenshot is {picture.width}x{picture.height}")
        for name, (page, window) in self.widths.items():
            if page > window:
                found.append(f"at {name} width the page is {page} px wide in {window} px")
        return found


class _Dom(HTMLParser):
    """The facts of a dumped DOM: the phase diagrams and their phases, scripts, viewport."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page(Path())
        self._svg_depth = 0  # > 0 inside an svg.phase-diagram

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        classes = values.get("class", "").split()
        if tag == "svg" and "phase-diagram" in classes:
            self.page.diagrams += 1
            self._svg_depth = 1
            return
        if self._svg_depth:
            self._svg_depth += 1
            if tag == "g" and "phase" in classes:
                self.page.phases.append(values.get("data-phase", ""))
        if tag == "script":
            self.page.scripts += 1
        if tag == "meta" and values.get("name", "").lower() == "viewport":
            self.page.viewport = True
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self.page.refresh.append(values.get("content", ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self._svg_depth:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._svg_depth:
            self._svg_depth -= 1


def read_dom(html: str) -> Page:
    parser = _Dom()
    parser.feed(html)
    parser.close()
    return parser.page


def read_png(path: Path) -> Picture:
    """A PNG's size and how much varies in it (8-bit greyscale, RGB or RGBA; no library)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: PNG of depth {depth}, colour type {colour} not read")
    rows = _unfiltered(zlib.decompress(bytes(idat)), width * channels, height, channels)
    counts: Counter[bytes] = Counter()
    step = max(1, (width * height) // 200_000)  # a sample of the pixels is enough
    for i, row in enumerate(rows):
        for x in range(0, width, 1 if i % step == 0 else step):
            counts[bytes(row[x * channels : (x + 1) * channels])] += 1
    total = sum(counts.values())
    common = counts.most_common(1)[0][1] if counts else 0
    return Picture(path, width, height, min(len(counts), 4096), 1 - common / max(total, 1))


def _unfiltered(raw: bytes, stride: int, height: int, bpp: int) -> list[bytearray]:
    rows: list[bytearray] = []
    previous = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        rows.append(line)
        previous = line
    return rows


# -- the browser ---------------------------------------------------------------------------


def _chromium(browser: str, page: Path, *args: str, netlog: Path | None = None) -> str:
    """Chromium on `page` (a file:// URL) with the network off; its stdout."""
    with tempfile.TemporaryDirectory(prefix="mg-chromium-") as profile:
        argv = [browser, *OFFLINE, f"--user-data-dir={profile}", *args]
        if netlog is not None:
            argv.append(f"--log-net-log={netlog}")
        argv.append(page.resolve().as_uri())
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(browser).name} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def network_requests(netlog: Path) -> list[str]:
    """The network URLs in a Chromium net log (every request tried, refused or not)."""
    text = netlog.read_text(encoding="utf-8", errors="replace")
    return sorted({u for u in NETWORK_URL.findall(text) if "~notfound" not in u.lower()})


_MEASURE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="{src}" style="width:{width}px;height:{height}px;border:0"></iframe>
<script>
document.getElementById("page").addEventListener("load", function () {{
  var win = this.contentWindow, doc = this.contentDocument, root = doc.documentElement;
  var body = document.body;
  body.setAttribute("data-page", String(root.scrollWidth));
  body.setAttribute("data-window", String(root.clientWidth));
  var svg = doc.querySelector("svg.phase-diagram");
  if (!svg) return;
  var box = svg.getBoundingClientRect();
  var rendered = svg.checkVisibility({{checkOpacity: true, checkVisibilityCSS: true}});
  body.setAttribute("data-svg", [box.left, box.top, box.width, box.height,
                                 rendered ? 1 : 0].join(" "));
  var smallest = -1;
  svg.querySelectorAll("g.phase text").forEach(function (text) {{
    var scale = text.getScreenCTM();
    if (!scale || !text.checkVisibility({{checkOpacity: true, checkVisibilityCSS: true}})) return;
    var px = parseFloat(win.getComputedStyle(text).fontSize) * Math.hypot(scale.a, scale.b);
    smallest = smallest < 0 ? px : Math.min(smallest, px);
  }});
  body.setAttribute("data-label", String(smallest));
}});
</script></body></html>
"""


def _attribute(dom: str, name: str) -> str | None:
    found = re.search(rf'<body[^>]*\s{name}="([^"]*)"', dom)
    return None if found is None else found[1]


def measure(browser: str, page: Path, out_dir: Path, size: tuple[int, int]) -> Layout:
    """How `page` is laid out in a window of `size` (CSS pixels): its width, the window's,
    and its diagram as drawn; read by a page of ours holding it in a frame (the page
    itself runs nothing)."""
    frame = out_dir / f"{page.stem}-measured-{size[0]}.html"
    frame.write_text(
        _MEASURE.format(src=page.resolve().as_uri(), width=size[0], height=size[1]),
        encoding="utf-8",
    )
    dom = _chromium(browser, frame, "--allow-file-access-from-files", "--dump-dom")
    widths = _attribute(dom, "data-page"), _attribute(dom, "data-window")
    if widths[0] is None or widths[1] is None:
        raise RuntimeError(f"the width of {page} could not be measured: {dom[:500]}")
    layout = Layout(int(widths[0]), int(widths[1]))
    svg = _attribute(dom, "data-svg")
    if svg is not None:
        left, top, width, height, rendered = (float(v) for v in svg.split())
        layout.diagram = (left, top, width, height, rendered == 1)
        label = float(_attribute(dom, "data-label") or -1)
        layout.label_px = label if label >= 0 else None
    return layout


def look(browser: str, page: Path, out_dir: Path) -> Page:
    """`page` loaded in Chromium: its DOM after load, every request it tried, a screenshot
    at each of SIZES (OUT_DIR/<stem>-<size>.png) and how wide it is laid out there, and the
    page printed (<stem>.pdf)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    netlog = out_dir / f"{page.stem}.netlog.json"
    seen = read_dom(_chromium(browser, page, "--dump-dom", netlog=netlog))
    seen.path = page
    seen.requests = network_requests(netlog)
    for name, (width, height) in SIZES.items():
        shot = out_dir / f"{page.stem}-{name}.png"
        shot.unlink(missing_ok=True)
        _chromium(browser, page, f"--screenshot={shot}", f"--window-size={width},{height}")
        seen.pictures[name] = read_png(shot)
        layout = measure(browser, page, out_dir, (width, height))
        seen.layouts[name] = layout
        seen.widths[name] = (layout.page, layout.window)
    pdf = out_dir / f"{page.stem}.pdf"
    _chromium(browser, page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    seen.pdf = pdf if pdf.is_file() else None
    return seen


# -- the pages -----------------------------------------------------------------------------


def _migrator(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "migrator", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"`migrator {' '.join(argv)}` exited {done.returncode}: {done.stderr}")
    return done.stdout


def plan_phases(plan: str) -> list[str]:
    """The phases of a plan, as `migrator docs --output json` reads them."""
    document = json.loads(_migrator("docs", plan, "--output", "json"))
    phases = document.get("phases")
    if isinstance(phases, list):
        return [str(p) for p in phases]
    return sorted({p for t in document["transitions"] for p in (t["from"], t["to"])})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder for the pages and screenshots")
    parser.add_argument("--plan", action="append", help="a plan (repeatable)")
    parser.add_argument("--run", type=int, help="a run whose report to check too")
    parser.add_argument("--dsn", help="the run's database (default $MIGRATOR_DSN)")
    parser.add_argument("--browser", help="the Chromium program")
    args = parser.parse_args(argv)
    browser = find_browser(args.browser)
    if browser is None:
        print(f"no Chromium found ({', '.join(BROWSERS)}): {INSTALL_HINT}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    pages: list[tuple[Path, list[str] | None]] = []
    for plan in args.plan or ["plans/scoring-results.yaml"]:
        page = args.out / f"runbook-{Path(plan).stem}.html"
        page.write_text(_migrator("docs", plan, "--output", "html"), encoding="utf-8")
        pages.append((page, plan_phases(plan)))
    if args.run is not None:
        page = args.out / f"report-{args.run}.html"
        dsn = ["--dsn", args.dsn] if args.dsn else []
        page.write_text(
            _migrator("report", str(args.run), "--output", "html", *dsn), encoding="utf-8"
        )
        pages.append((page, None))
    failed = False
    for page, phases in pages:
        seen = look(browser, page, args.out)
        problems = seen.problems(phases)
        failed = failed or bool(problems)
        shots = ", ".join(str(p.path) for p in seen.pictures.values())
        print(f"{page}: {'; '.join(problems) if problems else 'as a reader should see it'}")
        laid = ", ".join(f"{n} {w[0]} px in {w[1]}" for n, w in seen.widths.items())
        print(f"  diagram phases {seen.phases}; laid out {laid}")
        for name, layout in seen.layouts.items():
            label = "-" if layout.label_px is None else f"{layout.label_px:.1f} px"
            print(f"  at {name} width: diagram {layout.diagram}, phase names {label}")
        print(f"  screenshots {shots}; printed {seen.pdf}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
