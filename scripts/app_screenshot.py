"""docs/app.png: the web page after one render with the bundled model, in headless Chromium.

    python scripts/app_screenshot.py [--text Hallo] [--out docs/app.png]
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from signgen.app import launch
from signgen.app.browser import open_page

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="Hallo")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "app.png")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(None, port=port, block=False)
    try:
        with open_page(app.url, width=1400, height=820) as page:
            page.locator("#text textarea").fill(args.text)
            page.locator("#render").click()
            page.locator("#result video").wait_for(timeout=900_000)
            page.wait_for_timeout(1500)  # the first frame is painted
            page.screenshot(path=str(args.out), full_page=True)
    finally:
        app.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
