#!/usr/bin/env python3
"""Replica lag as a client sees it: every INTERVAL a charge goes to the leader, and the moment its
answer arrives the client asks the replica for that user's balance with ?atLeast=<the answer's
position>; the lag is the time until the replica answers with it. Users 9,000,001 and up, away
from the load's. Prints count, p50, p99 and max in milliseconds when stopped (SIGTERM) or after
SECONDS.

    replica-lag.py LEADER_URL REPLICA_URL SECONDS [INTERVAL_MS]
"""
import http.client, json, signal, sys, time
from urllib.parse import urlparse

leader, replica, seconds = urlparse(sys.argv[1]), urlparse(sys.argv[2]), float(sys.argv[3])
interval = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.01
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
lc = http.client.HTTPConnection(leader.hostname, leader.port, timeout=30)
rc = http.client.HTTPConnection(replica.hostname, replica.port, timeout=30)
lags, misses, user = [], 0, 9_000_000
end = time.monotonic() + seconds
while not stop and time.monotonic() < end:
    user += 1
    lc.request("POST", f"/users/{user}/points/charge", body='{"amount":10000}', headers={"Content-Type": "application/json"})
    answer = lc.getresponse()
    body = answer.read()
    if answer.status != 200:
        misses += 1
        continue
    position = json.loads(body)["position"]
    acked = time.monotonic()
    rc.request("GET", f"/users/{user}/points?atLeast={position}")
    read = rc.getresponse()
    got = json.loads(read.read())
    if read.status != 200 or got.get("balance") != 10000:
        misses += 1
        continue
    lags.append((time.monotonic() - acked) * 1000)
    time.sleep(interval)
lags.sort()
pick = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] if lags else float("nan")
print(f"replica lag: {len(lags)} reads, p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {lags[-1] if lags else float('nan'):.1f} ms, {misses} not served")
