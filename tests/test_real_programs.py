"""Real programs nobody here wrote: Debian's curl and nginx, preloaded, on loopback."""

import glob
import json
import os
import signal
import subprocess
import tempfile
import time

from common import TlsPeer, Failure, expect, make_cert, preload_env, run, PRELOAD

NGINX_CONF = """
daemon off;
master_process on;
worker_processes %(workers)d;
user root;
error_log %(dir)s/error.log;
pid %(dir)s/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(dir)s/tmp; proxy_temp_path %(dir)s/tmp; fastcgi_temp_path %(dir)s/tmp;
    uwsgi_temp_path %(dir)s/tmp; scgi_temp_path %(dir)s/tmp;
    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        location / { return 200 "ok\\n"; }
    }
}
"""


def test_curl_https_is_clean():
    with tempfile.TemporaryDirectory() as tmp:
        with TlsPeer(tmp, "--http") as peer:
            p = run(["curl", "-sk", "https://127.0.0.1:%d/" % peer.port],
                    env=preload_env("json=%s/r.json" % tmp), timeout=30)
        report = json.load(open(tmp + "/r.json"))
    expect(p.returncode == 0 and p.stdout == "ok", "curl: status %d, output %r" % (p.returncode, p.stdout))
    expect(report["transports"] == [], "curl closes its TLS session its own way (one close_notify, then "
           "SSL_set_connect_state): nothing to report, got %s" % report["transports"])
    expect(report["summary"]["transports_seen"] >= 1, str(report["summary"]))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def workers_of(master):
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.append(int(stat.split("/")[2]))
    return found


def run_nginx(workers):
    """nginx with the preload, a few HTTPS requests from curl (not preloaded), then a graceful
    stop (SIGQUIT). Returns the reports of every nginx process."""
    tmp = tempfile.mkdtemp(prefix="sockleak-nginx-")
    os.chmod(tmp, 0o777)  # workers may run as another user
    os.mkdir(os.path.join(tmp, "tmp"))
    cert, key = make_cert(tmp)
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF % {"workers": workers, "dir": tmp, "port": port, "cert": cert, "key": key})
    env = preload_env("json=%s/r.%%p.json" % tmp)
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", conf, "-p", tmp + "/"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        clean = dict(os.environ)
        clean.pop("LD_PRELOAD", None)
        for _ in range(100):
            c = subprocess.run(["curl", "-sk", "https://127.0.0.1:%d/" % port], env=clean,
                               capture_output=True, text=True, timeout=10)
            if c.returncode == 0:
                break
            time.sleep(0.1)
        for _ in range(5):
            c = subprocess.run(["curl", "-sk", "https://127.0.0.1:%d/" % port], env=clean,
                               capture_output=True, text=True, timeout=10)
            expect(c.stdout == "ok\n", "nginx answered %r" % c.stdout)
        # The master hands each worker the channels of the workers made after it; give the
        # workers a moment to take that message before asking them to stop.
        deadline = time.monotonic() + 20
        while len(workers_of(nginx.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)
        nginx.send_signal(signal.SIGQUIT)
        status = nginx.wait(timeout=30)
    finally:
        if nginx.poll() is None:
            nginx.kill()
            nginx.wait()
    reports = [json.load(open(p)) for p in glob.glob(tmp + "/r.*.json")]
    subprocess.run(["rm", "-rf", tmp])
    return status, reports


def test_nginx_one_worker_is_clean():
    status, reports = run_nginx(1)
    expect(status == 0, "nginx exit status %d" % status)
    expect(len(reports) == 2, "a report from the master and the worker, got %d" % len(reports))
    found = [t for r in reports for t in r["transports"]]
    expect(found == [], "nginx closes what it opens (and drops registrations by closing): %s" % found)
    seen = sum(r["summary"]["transports_seen"] for r in reports)
    expect(seen >= 7, "too few transports seen (%d): listener, channels, 6 connections" % seen)


def test_nginx_two_workers_keep_each_others_channel():
    # The first worker receives the second's channel socket over SCM_RIGHTS (ngx_read_channel).
    # If the second worker exits first, the master tells the first to close that channel
    # (NGX_CMD_CLOSE_CHANNEL); if the first exits first, the channel is still open at its exit.
    # nginx decides the order (either happens here), so the finding is there once or not at all,
    # and never anything else. (testapps/recvmsg_scm_rights.c tests received sockets exactly.)
    status, reports = run_nginx(2)
    expect(status == 0 and len(reports) == 3, "status %d, %d reports" % (status, len(reports)))
    found = [t for r in reports for t in r["transports"]]
    expect(len(found) <= 1, "at most one finding: %s" % [(t["kind"], t["role"]) for t in found])
    for t in found:
        expect((t["kind"], t["role"], [f["flag"] for f in t["flags"]]) == ("unix-stream", "received", ["never-closed"]),
               str((t["kind"], t["role"], t["flags"])))
        expect(t["opened_at"][0]["function"] == "ngx_read_channel", "made at %s" % t["opened_at"][0])
    return "the first worker %s the second's channel" % ("kept" if found else "was told to close")
