"""The kernel's own price for moving event-stream bytes through loopback TCP on this host: one
process writes one shared buffer (like a batch of the event stream) to N sockets, another reads
them all into one buffer (like tools/wrk/sse-clients.py). Prints the CPU of each side per
EVENT_BYTES bytes delivered. No server code runs, so this is the floor under the event stream's
cost per delivered event: whatever the server does, a co-located reader and the server's writes
together cannot cost less than this.

    python3 loopback-floor.py CLIENTS EVENT_BYTES [BATCH_BYTES] [TOTAL_MB]
"""
import os
import selectors
import socket
import sys
import time

clients = int(sys.argv[1])
event_bytes = float(sys.argv[2])
batch_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else 128 * 1024
total = int(sys.argv[4] if len(sys.argv) > 4 else 2000) * 1_000_000

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(clients)
port = listener.getsockname()[1]
read_end, write_end = os.pipe()

reader = os.fork()
if reader == 0:
    selector = selectors.DefaultSelector()
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    received, open_sockets = 0, clients
    start = time.process_time()
    while open_sockets:
        for key, _ in selector.select():
            try:
                n = key.fileobj.recv_into(view)
            except BlockingIOError:
                continue
            if n == 0:
                selector.unregister(key.fileobj)
                open_sockets -= 1
            received += n
    os.write(write_end, f"{time.process_time() - start} {received}".encode())
    os._exit(0)

sockets = [listener.accept()[0] for _ in range(clients)]
for s in sockets:
    s.setblocking(False)
selector = selectors.DefaultSelector()
batch = memoryview(b"x" * batch_bytes)
pending = {s: 0 for s in sockets}  # bytes of the current batch each socket has taken
share = total // clients
sent = {s: 0 for s in sockets}
for s in sockets:
    selector.register(s, selectors.EVENT_WRITE)
start = time.process_time()
while selector.get_map():
    for key, _ in selector.select():
        s = key.fileobj
        try:
            n = s.send(batch[pending[s]:])
        except BlockingIOError:
            continue
        pending[s] = (pending[s] + n) % batch_bytes
        sent[s] += n
        if sent[s] >= share and pending[s] == 0:
            selector.unregister(s)
            s.close()
sender_cpu = time.process_time() - start
os.waitpid(reader, 0)
reader_cpu, received = os.read(read_end, 100).decode().split()
reader_cpu, received = float(reader_cpu), int(received)
events = received / event_bytes
print(f"loopback floor: {received / 1e6:.0f} MB to {clients} sockets in {batch_bytes}-byte writes: "
      f"sender {1e6 * sender_cpu / events:.3f} us and reader {1e6 * reader_cpu / events:.3f} us "
      f"of CPU per {event_bytes:.0f}-byte event")
