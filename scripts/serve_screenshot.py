"""Take the README's screenshot of ``ecgbyte serve``'s page with headless Chromium (Selenium).

Serves RUN on a free loopback port, opens the page, uploads RECORD (a WFDB ``.hea`` with its
``.dat``), asks QUESTION with attention on, waits for the answer and saves a PNG of the page.
Needs ``selenium`` and the ``chromium`` + ``chromedriver`` programs (``scripts/install.sh``).

Usage::

    .venv/bin/python scripts/serve_screenshot.py demo_out/with_signal \\
        ../shared/data/ptb-xl/records500/00000/00002_hr.hea --out docs/images/serve_page.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="training run directory")
    p.add_argument("record", help="WFDB .hea (its .dat beside it)")
    p.add_argument("--question", default="What is the rhythm of this ECG?")
    p.add_argument("--out", default="docs/images/serve_page.png")
    p.add_argument("--width", type=int, default=1200)
    args = p.parse_args()

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from ecgbyte.serve.app import ServeSettings, make_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(args.run, ServeSettings(threads=1)), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={args.width},900",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(f"http://127.0.0.1:{port}/")
        record = Path(args.record).resolve()
        driver.find_element(By.ID, "file").send_keys(f"{record}\n{record.with_suffix('.dat')}")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#plot .lead canvas"))
        driver.find_element(By.ID, "question").send_keys(args.question)
        wait.until(lambda d: d.find_element(By.ID, "ask").is_enabled())
        driver.find_element(By.ID, "ask").click()
        wait.until(lambda d: d.find_element(By.ID, "answer").text.strip())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd(  # the whole page in one viewport
            "Emulation.setDeviceMetricsOverride",
            {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        time.sleep(0.5)  # the page redraws its canvases at the new size
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(args.out)
        print(f"{args.out}: answer {driver.find_element(By.ID, 'answer').text!r}")
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
