"""A tiny MJPEG-over-HTTP camera on 127.0.0.1 for live-mode tests (no camera needed)."""

from __future__ import annotations

import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler

import cv2


class MjpegServer:
    """Serves pre-encoded frames in a loop at `fps`; stop() and start() keep the same port."""

    def __init__(self, frames_rgb, fps: float, port: int = 0):
        self.jpegs = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames_rgb]
        self.fps = fps
        self.port = port
        self.sent = 0
        self._server = None
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> "MjpegServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                started = time.monotonic()
                index = 0
                try:
                    while owner._running.is_set():
                        jpeg = owner.jpegs[index % len(owner.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg))
                        self.wfile.write(jpeg + b"\r\n")
                        owner.sent += 1
                        index += 1
                        delay = started + index / owner.fps - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._running.set()
        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._running.clear()  # open streams end
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
