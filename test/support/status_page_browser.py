"""Drives the status page in headless Chromium (Debian's chromium and
chromedriver) and reports what it showed, second by second.

    python status_page_browser.py URL SCREENSHOT SECONDS

Prints one JSON object: the page's readings, one a second for SECONDS
seconds after the first sample arrived.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, screenshot, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--window-size=1200,900"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)

try:
    driver.get(url)
    text = lambda i: driver.find_element(By.ID, i).text
    deadline = time.time() + 20
    while not text("updated").startswith("updated") and time.time() < deadline:
        time.sleep(0.1)
    readings = []
    for _ in range(seconds):
        readings.append({"updated": text("updated"), "events": text("events"), "sessions": text("sessions"),
                         "identify": text("identify"), "memory": text("memory"),
                         "plot": driver.find_element(By.CSS_SELECTOR, "#events-plot polyline").get_attribute("points")})
        time.sleep(1)
    driver.save_screenshot(screenshot)
    print(json.dumps({"title": driver.title, "readings": readings}))
finally:
    driver.quit()
