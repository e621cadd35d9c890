"""A deterministic OpenAI-compatible chat-completions server on 127.0.0.1 for the runner tests (loopback only)."""
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VARIED_ANSWERS = ("Yes", "No", "yes.", "A", "B", "(C)", "The answer is B", "no, not at all")


def varied_answer(body: dict) -> str:
    """An answer picked by a hash of the whole request (text and image bytes): same request, same answer."""
    digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).digest()
    return VARIED_ANSWERS[digest[0] % len(VARIED_ANSWERS)]


class ChatServer:
    """Answers chat completions with ``answer``: a fixed string, None (the prompt's length), "varied"
    (``varied_answer``) or a function of the request body; ``failures`` are (status, message) returned first, one per call; every request
    body is kept in ``seen``."""

    def __init__(self):
        self.answer = "Yes"
        self.failures: list[tuple[int, str]] = []
        self.seen: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, payload, extra=None):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "echo-model", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "no such route"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                server.seen.append(body)
                server.headers.append(dict(self.headers))
                if server.failures:
                    status, message = server.failures.pop(0)
                    self._send(status, {"error": {"message": message}}, {"Retry-After": "0"} if status == 429 else None)
                    return
                if callable(server.answer):
                    answer = server.answer(body)
                elif server.answer == "varied":
                    answer = varied_answer(body)
                elif server.answer is None:
                    text = next(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")
                    answer = f"len={len(text)}"
                else:
                    answer = server.answer
                self._send(200, {"id": "c1", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                              "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
