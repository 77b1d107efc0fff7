"""The page of ``ecgbyte serve`` in a real browser: headless Chromium driven by Selenium.

It loads the page, uploads a real PTB-XL record (its ``.hea`` and ``.dat`` together), checks that
the 12 leads are drawn with the model's lead marked as tokenized, asks a question and reads the
answer, which must be the one ``ecgbyte ask`` gives. Needs the ``selenium`` package and the
``chromium`` and ``chromedriver`` programs (Debian: ``apt-get install chromium chromium-driver``,
which ``scripts/install.sh`` runs where it can); without them the test skips and says which is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from ecgbyte.elm.generate import ask
from ecgbyte.elm.run import RunDir
from ecgbyte.serve.app import ServeSettings, make_app
from serving import running_server

QUESTION = "What is the rhythm of this ECG?"


def _browser():
    missing = [
        name
        for name, ok in (
            ("the selenium package (pip install 'ecgbyte[serve]')", importlib.util.find_spec("selenium")),
            ("the chromium program (apt-get install chromium)", shutil.which("chromium")),
            ("the chromedriver program (apt-get install chromium-driver)", shutil.which("chromedriver")),
        )
        if not ok
    ]
    if missing:
        pytest.skip("browser test needs " + " and ".join(missing))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def test_page_uploads_a_record_and_shows_the_answer(serve_run_dir: Path, ptbxl_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    record = ptbxl_dir / "records500" / "00000" / "00002_hr.hea"
    driver = _browser()
    run = RunDir(serve_run_dir).load()
    try:
        with running_server(make_app(run, ServeSettings())) as url:
            wait = WebDriverWait(driver, 60)
            driver.get(url + "/")
            wait.until(lambda d: d.find_element(By.ID, "run-name").text.startswith(serve_run_dir.name))
            upload = driver.find_element(By.ID, "file")
            upload.send_keys(f"{record}\n{record.with_suffix('.dat')}")
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#plot .lead canvas")) == 12)
            rows = driver.find_elements(By.CSS_SELECTOR, "#plot .lead")
            read = [
                r.find_element(By.CLASS_NAME, "name").text.split("\n")[0]
                for r in rows
                if "off" not in r.get_attribute("class")
            ]
            assert read == ["II"]
            assert "00002_hr: 12 leads, 500 Hz, 10 s" in driver.find_element(By.ID, "record-info").text
            wait.until(ec.element_to_be_clickable((By.ID, "ask")))
            driver.find_element(By.ID, "question").send_keys(QUESTION)
            driver.find_element(By.ID, "ask").click()
            wait.until(lambda d: d.find_element(By.ID, "answer").text.strip())
            answer = driver.find_element(By.ID, "answer").text
            meta = driver.find_element(By.ID, "answer-meta").text
            assert driver.find_element(By.ID, "error").get_attribute("hidden") is not None
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    assert answer == ask(run, record, QUESTION)["answer"]
    assert "prompt tokens" in meta and "of the attention on ECG tokens" in meta
    assert errors == []
