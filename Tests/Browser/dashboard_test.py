"""The operator dashboard in a real browser (headless Chromium through Selenium) against a real
`commerce serve`: live coupon, best-seller and event views, the banner when the server dies,
and catching up after it is back with no event missing or shown twice.

    python3 dashboard_test.py <path to the commerce binary> [screenshot path]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BINARY = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="dashboard-test-")
DATA = os.path.join(WORK, "data")
SCREENSHOT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(WORK, "dashboard.png")
TOKEN = "secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
URL = f"http://127.0.0.1:{PORT}"


def start_server():
    log = open(os.path.join(WORK, "server.log"), "a")
    proc = subprocess.Popen([BINARY, "serve", "--data", DATA, "--port", str(PORT), "--admin-token", TOKEN],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            call("GET", "/health")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the server did not start:\n" + open(os.path.join(WORK, "server.log")).read())
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not answer within 30 s")


def call(method, path, body=None, admin=False):
    request = urllib.request.Request(URL + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if admin:
        request.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def within(seconds, what, probe):
    """Polls `probe` until it returns a true value; fails naming `what` and its last value."""
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            last = probe()
            if last:
                return last
        except Exception as e:  # the page may be redrawing the element just read
            last = e
        time.sleep(0.05)
    raise AssertionError(f"{what} (within {seconds} s; last seen: {last!r})")


def page_head(driver):
    return int(driver.find_element(By.ID, "head").text.replace(",", ""))


def shown_positions(driver):
    return [int(row.get_attribute("data-position")) for row in driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")]


def main():
    server = start_server()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        driver.get(URL + "/dashboard")
        # With a token configured the page asks for it once (kept for the tab).
        within(5, "the token form", lambda: driver.find_element(By.ID, "login").is_displayed())
        driver.find_element(By.ID, "token").send_keys("wrong")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        within(5, "a wrong token refused", lambda: "not accepted" in driver.find_element(By.ID, "login-error").text)
        driver.find_element(By.ID, "token").clear()
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        within(5, "the dashboard", lambda: driver.find_element(By.ID, "main").is_displayed())
        within(5, "the stream live", lambda: driver.find_element(By.ID, "stream-state").text == "live")

        # A shop: three products, a coupon of 5 issued 5 times, orders, one compensated.
        for name in ["Mug", "Pen", "Cup"]:
            expect(call("POST", "/admin/products", {"name": name, "price": 1000, "stock": 100}, admin=True)[0] == 201, "product")
        status, coupon = call("POST", "/admin/coupons", {"name": "Five", "discount": {"type": "FIXED", "amount": 100},
                                                          "totalQuantity": 5, "issueStartsAt": "2020-01-01T00:00:00Z",
                                                          "issueEndsAt": "2099-01-01T00:00:00Z", "validDays": 7}, admin=True)
        expect(status == 201, f"coupon: {status} {coupon}")
        for user in range(1, 6):
            expect(call("POST", f"/users/{user}/points/charge", {"amount": 100000})[0] == 200, "charge")
            expect(call("POST", "/coupons/1/issue", {"userId": user})[0] == 201, "issue")
        orders = [(1, 1, 3), (2, 2, 4), (3, 3, 1), (4, 2, 2)]  # (user, product, quantity)
        ids = []
        for user, product, quantity in orders:
            status, order = call("POST", "/orders", {"userId": user, "items": [{"productId": product, "quantity": quantity}]})
            expect(status == 201, f"order: {status} {order}")
            ids.append(order["orderId"])
        # Pen's 4 go back: without the compensation Pen (6) would lead; with it Mug 3, Pen 2, Cup 1.
        expect(call("POST", f"/orders/{ids[1]}/compensate", {"reason": "customer cancel"})[0] == 200, "compensate")
        head = call("GET", "/health")[1]["head"]

        def coupon_row():
            row = driver.find_element(By.CSS_SELECTOR, '#coupons [data-coupon-id="1"]')
            return "5 / 5" in row.text and "sold out" in row.text and "sold-out" in row.get_attribute("class") and row.text
        within(2, "the coupon at 5 / 5 and sold out", coupon_row)

        def bars():
            rects = driver.find_elements(By.CSS_SELECTOR, "#top-chart rect")
            got = [(r.get_attribute("data-product-id"), r.get_attribute("data-quantity")) for r in rects]
            return got == [("1", "3"), ("2", "2"), ("3", "1")] and got
        within(2, "the best-seller bars Mug 3, Pen 2, Cup 1", bars)
        within(2, "the head equal to the server's", lambda: page_head(driver) == head)
        within(2, "every event in the table", lambda: sorted(shown_positions(driver)) == list(range(1, head + 1)))
        types = {row.find_elements(By.TAG_NAME, "td")[2].text for row in driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")}
        expect({"OrderCompensated", "CouponIssued", "OrderCompleted"} <= types, f"event types shown: {types}")

        # The server dies: the page says so.
        server.send_signal(signal.SIGKILL)
        server.wait()
        within(5, "the disconnection banner", lambda: driver.find_element(By.ID, "banner").is_displayed()
               and "disconnected" in driver.find_element(By.ID, "banner").text)

        # Back, and more happens: the page catches up, nothing missed, nothing twice.
        server = start_server()
        for user in range(6, 11):
            expect(call("POST", f"/users/{user}/points/charge", {"amount": 10000})[0] == 200, "charge after restart")
        head = call("GET", "/health")[1]["head"]
        within(15, "the page caught up with the server", lambda: page_head(driver) == head)
        within(2, "the banner gone", lambda: not driver.find_element(By.ID, "banner").is_displayed())
        shown = shown_positions(driver)
        expect(len(shown) == len(set(shown)), f"an event shown twice: {shown}")
        expect(sorted(shown) == list(range(1, head + 1)), f"events missing: {sorted(shown)} for head {head}")
        driver.save_screenshot(SCREENSHOT)
        print(f"dashboard test passed: {head} events; screenshot {SCREENSHOT}")
    finally:
        driver.quit()
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
