"""Print a rendered letter to PDF with headless Chromium, for councils that still post letters.

Why Chromium's print-to-PDF and not WeasyPrint: Chromium is already on every machine that runs the letter and
dashboard screenshot checks (Debian's ``chromium`` package), it renders the HTML exactly as a modern mail client
or browser shows the emailed letter, and it needs no extra Python dependency or Pango/Cairo stack. WeasyPrint would
add a second HTML engine whose output can differ from what the requester sees by email.

The letter's HTML is written to a file first and Chromium reads it from disk with networking switched off, so a
letter cannot fetch anything; the logo is already a data: URI.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from connector.errors import FoiSyncError

#: Where Debian and most Linux distributions put the browser; ``letters.pdf_browser`` (or --browser) overrides it.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfError(FoiSyncError):
    """A letter could not be printed to PDF; the message says why and how to fix it."""


def find_browser(explicit: str | Path | None = None) -> Path:
    """The Chromium executable to print with; a clear error naming the fix when there is none."""
    if explicit:
        path = Path(explicit)
        if path.is_file():
            return path
        raise PdfError(f"browser {explicit} does not exist; give the path to chromium (e.g. /usr/bin/chromium)")
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise PdfError(
        "no Chromium found to print the PDF; install it (Debian/Ubuntu: apt-get install chromium) or pass "
        "--browser /path/to/chromium; use --no-pdf to write only the .html and .txt files"
    )


def html_to_pdf(html_path: Path, pdf_path: Path, *, browser: str | Path | None = None, timeout: int = 120) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, no browser header or footer) and return the PDF path."""
    exe = find_browser(browser)
    pdf_path = Path(pdf_path).resolve()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="foi-sync-pdf-") as profile:
        cmd = [
            str(exe),
            "--headless",
            "--no-sandbox",  # needed when the job runs as root (a container); the page is our own local file
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_path}",
            Path(html_path).resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium took more than {timeout} s to print {html_path.name}; try again") from None
        except OSError as exc:
            raise PdfError(f"cannot run {exe} ({exc.strerror}); check the browser path") from None
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise PdfError(f"Chromium could not print {html_path.name} (exit {proc.returncode}: {tail[0][:200]})")
    return pdf_path
