"""N clients of GET /events/stream that read and discard what arrives, for the HTTP benchmark's
row with stream clients. Runs until SIGTERM, then prints the bytes and events received.

    python3 sse-clients.py URL N
"""
import selectors
import signal
import socket
import sys
import urllib.parse

url = urllib.parse.urlparse(sys.argv[1])
count = int(sys.argv[2])
selector = selectors.DefaultSelector()
received = {"bytes": 0, "events": 0}
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
for _ in range(count):
    s = socket.create_connection((url.hostname, url.port))
    s.sendall(b"GET /events/stream HTTP/1.1\r\nHost: bench\r\n\r\n")
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ)
print(f"{count} stream clients connected", flush=True)
while running:
    for key, _ in selector.select(timeout=0.5):
        try:
            data = key.fileobj.recv(262144)
        except BlockingIOError:
            continue
        if not data:
            selector.unregister(key.fileobj)
            continue
        received["bytes"] += len(data)
        received["events"] += data.count(b"\nid: ") + data.startswith(b"id: ")
print(f"stream clients received {received['bytes']} bytes, {received['events']} events", flush=True)
