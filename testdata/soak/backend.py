#!/usr/bin/env python3
"""Health backends for the soak (run.sh): GET /healthz on FLAP_ADDR:PORT
answers 200 and 503 in turns of PERIOD seconds; on STABLE_ADDR:PORT always
200. Usage: backend.py FLAP_ADDR STABLE_ADDR PORT PERIOD"""
import http.server
import sys
import threading
import time


def handler(flapping, period):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            up = not flapping or int(time.monotonic() / period) % 2 == 0
            code = 200 if self.path == "/healthz" and up else 503
            body = b"ok\n" if code == 200 else b"unhealthy\n"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return H


def main():
    flap, stable, port, period = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    servers = [
        http.server.ThreadingHTTPServer((flap, port), handler(True, period)),
        http.server.ThreadingHTTPServer((stable, port), handler(False, period)),
    ]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("backends up", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
