"""A partner's webhook receiver on 127.0.0.1: records every request, answers from a script, dedupes by webhook-id."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Serve on a free loopback port; `answers` are the status codes of the first requests (then 200).

    `delay_first` holds the first request that long, `delay` every request (a slow partner).
    """

    def __init__(self, *, answers=(), delay_first: float = 0.0, delay: float = 0.0):
        self.answers = list(answers)
        self.delay_first = delay_first
        self.delay = delay
        self.requests: list[dict] = []
        self.processed: dict[str, bytes] = {}  # webhook-id → body: what a deduplicating partner keeps
        self.lock = threading.Lock()
        self.first_arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    n = len(receiver.requests)
                    receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                    status = receiver.answers[n] if n < len(receiver.answers) else 200
                receiver.first_arrived.set()
                if n == 0 and receiver.delay_first:
                    time.sleep(receiver.delay_first)
                time.sleep(receiver.delay)
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.processed.setdefault(self.headers.get("webhook-id", ""), body)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [r["headers"].get("webhook-id", "") for r in self.requests]
