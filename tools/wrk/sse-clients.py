"""N clients of GET /events/stream that read and discard what arrives, for the HTTP benchmark's
row with stream clients. Runs until SIGTERM, then prints the bytes and events received.

    python3 sse-clients.py URL N

It shares the machine's cores with the server, so it does as little as it can per byte: one
buffer for every read, and no scan of what arrives. Events are counted by the ids: the stream is
every event in log order, so a client received (last id - first id + 1) events; each read looks
for its first new "id: " line from the start (which must follow the last one seen: anything else
is counted as missing) and its last complete one from the end.
"""
import selectors
import signal
import socket
import sys
import urllib.parse

url = urllib.parse.urlparse(sys.argv[1])
count = int(sys.argv[2])
selector = selectors.DefaultSelector()
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


class Client:
    def __init__(self):
        self.first = None
        self.last = None
        self.missing = 0
        self.tail = b""  # the end of the previous read: an id line may be split between two


clients = {}
for _ in range(count):
    s = socket.create_connection((url.hostname, url.port))
    s.sendall(b"GET /events/stream HTTP/1.1\r\nHost: bench\r\n\r\n")
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ)
    clients[s] = Client()
print(f"{count} stream clients connected", flush=True)

TAIL = 64
buffer = bytearray(1 << 20)
view = memoryview(buffer)
received = 0
while running:
    for key, _ in selector.select(timeout=0.5):
        s = key.fileobj
        client = clients[s]
        start = len(client.tail)
        view[:start] = client.tail
        try:
            n = s.recv_into(view[start:])
        except BlockingIOError:
            continue
        if n == 0:
            selector.unregister(s)
            continue
        received += n
        end = start + n
        # The first complete id line after the last one seen: it must be the next position.
        at = buffer.find(b"\nid: ", 0, end)
        while at >= 0:
            newline = buffer.find(b"\n", at + 5, end)
            if newline < 0:
                break
            position = int(buffer[at + 5:newline])
            if client.last is None or position > client.last:
                if client.first is None:
                    client.first = position
                elif position != client.last + 1:
                    client.missing += position - client.last - 1
                break
            at = buffer.find(b"\nid: ", newline, end)
        # The last complete id line of what is buffered.
        at = buffer.rfind(b"\nid: ", 0, end)
        newline = buffer.find(b"\n", at + 5, end) if at >= 0 else -1
        while at >= 0 and newline < 0:
            at = buffer.rfind(b"\nid: ", 0, at)
            newline = buffer.find(b"\n", at + 5, end) if at >= 0 else -1
        if newline >= 0 and client.first is not None:
            client.last = max(client.last or 0, int(buffer[at + 5:newline]))
        client.tail = bytes(view[max(0, end - TAIL):end])

missing = sum(c.missing for c in clients.values())
events = sum(c.last - c.first + 1 - c.missing for c in clients.values() if c.first is not None)
print(f"stream clients received {received} bytes, {events} events, {missing} missing", flush=True)
