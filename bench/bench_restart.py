#!/usr/bin/env python3
"""Restart-latency benchmark: kill -9 of a supervised program -> exec of its successor.

Rivals, measured side by side in one run, each the same way:

  zdaemon     zdaemon/zdrun (found via --zdaemon PATH, or `zdaemon` on PATH)
  runsv       runit's runsv (found via --runsv PATH, or `runsv` on PATH)
  supervisord supervisord (optional; --supervisord PATH or on PATH)
  baseline-py a 30-line Python restarter (pidfd + os.posix_spawn), the floor a
              Python keeper could reach; disable with --no-baseline
  ours        buildout_script's keeper (supervise = true), run from this
              checkout as python -m buildout_script.ctl; or --ours CTL_SCRIPT:
              a generated bin/NAMEctl whose program is the marker binary
              (see --build-marker)

Method.  The supervised program is a tiny C "marker" compiled at bench time
with the machine's `cc` (a static binary when the libc allows it).  The first
thing its main() does is read CLOCK_MONOTONIC and write "<ns> <pid>" to a
file (write to a temp name, then rename, so a reader never sees half a
line); then it sleeps in pause().  The bench reads the monotonic clock
(time.monotonic_ns(), the same clock, same boot) immediately before
os.kill(pid, SIGKILL), then polls the file until it carries a new pid.  The
latency is new_ns - t_kill: kill delivery, the supervisor's wake-up and
reaping, its own delays, fork and exec, and the dynamic-loader/CRT startup
of the marker (~0.1-0.3 ms, identical for every rival).  The polling rate
does not enter the figure, since the successor stamps its own time.

Rounds are interleaved: every rival is started first, then each is killed
in turn, round after round, so that the load of a shared machine hits all
alike.

Fairness.  Supervisors throttle programs that die young: runsv sleeps 1 s
if the service ran < 1 s; zdaemon backs off if it ran < backoff-limit
(default 10 s; set to 1 here); supervisord's startsecs (set to 1).  Each
round therefore waits --settle seconds (default 1.3) after the successor
started before killing it, so no rival's anti-flapping delay is triggered.

Many services.  With --services N (default 1), every rival keeps N - 1
other programs (`sleep`, quiet) beside the marker, each as it keeps
several: ours, N services in the same pid dir, so one keeper keeps them
all; supervisord, N [program:] sections in one supervisord; runsv, N runsv
processes (one per service, as runsvdir would run them); zdaemon, N
zdaemon/zdrun pairs.  baseline-py keeps the marker alone (it is a floor,
not a supervisor).  The others are started before the first kill and left
alone; only the marker is killed.

The bench installs nothing.  It stops every process it started at the end,
also on Ctrl-C or SIGTERM (supervisor first, then any leftover it knows of).

Usage:
  python3 bench_restart.py [--rounds 15] [--zdaemon /tmp/research/venv/bin/zdaemon]
  python3 bench_restart.py --build-marker /some/dir/marker   # build only
  python3 bench_restart.py --ours bin/democtl --ours-marker var/demo/marker.out
  python3 bench/bench_restart.py --only zdaemon,runsv,ours --services 20 \
      --zdaemon bench/.scratch/venv/bin/zdaemon         # one keeper keeps 20
  python3 bench/bench_restart.py --only zdaemon,runsv,ours \
      --zdaemon /path/to/venv/bin/zdaemon              # what bench/README.txt shows
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MARKER_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);          /* first thing: the stamp */
    const char *path = argc > 1 ? argv[1] : getenv("MARKER_FILE");
    if (!path) path = "marker.out";                /* runsv: cwd = service dir */
    char tmp[4096], buf[64];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int n = snprintf(buf, sizeof buf, "%lld %d\n",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, buf, n) != n) return 111;
        close(fd);
        rename(tmp, path);
    }
    for (;;) pause();
}
"""

# A minimal Python restarter: what a stdlib keeper's restart path costs.
BASELINE_PY = r"""
import os, select, signal, sys
marker, out = sys.argv[1], sys.argv[2]
stop = False
def term(*_):
    global stop
    stop = True
r, w = os.pipe(); os.set_blocking(w, False); signal.set_wakeup_fd(w)
signal.signal(signal.SIGTERM, term)
pid = None
while not stop:
    pid = os.posix_spawn(marker, [marker, out], os.environ)
    pfd = os.pidfd_open(pid)
    p = select.poll(); p.register(pfd, select.POLLIN); p.register(r, select.POLLIN)
    while not stop:
        if any(fd == pfd for fd, _ in p.poll()):
            break
    if stop:
        os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0); os.close(pfd)
"""


class Skip(Exception):
    pass


class Cleanup:
    """LIFO of teardown callables; each runs once, errors are reported."""

    def __init__(self):
        self.items = []

    def push(self, fn, label):
        self.items.append((fn, label))

    def run(self):
        while self.items:
            fn, label = self.items.pop()
            try:
                fn()
            except Exception as exc:  # keep tearing down the rest
                print(f"  cleanup {label}: {exc}", file=sys.stderr)


CLEAN = Cleanup()


def log(msg):
    print(msg, flush=True)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def pids_mentioning(text):
    """PIDs whose command line or cwd mentions text (our unique temp dir)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{d}/cwd")
        except OSError:
            continue
        if text in cmd or cwd.startswith(text):
            found.append(int(d))
    return found


def reap_leftovers(workdir, grace=2.0):
    """TERM, then KILL, every process still tied to our temp dir."""
    pids = pids_mentioning(workdir)
    for p in pids:
        kill_pid(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if alive(p)]
        time.sleep(0.05)
    for p in pids:
        log(f"  leftover pid {p} still there, SIGKILL")
        kill_pid(p)


def other_program(a, rival, i):
    """argv of the i-th quiet program a rival keeps beside the marker: a
    sleep whose argument carries the run's tag (found and killed by it)."""
    return [shutil.which("sleep") or "/bin/sleep", f"{a.tag}{rival}{i:03d}"]


def kill_tagged(tag):
    """SIGKILL every `sleep TAG...` left (the last resort of a cleanup)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if len(argv) == 2 and argv[0].endswith(b"sleep") and argv[1].startswith(tag.encode()):
            kill_pid(int(d))


def parallel(calls, jobs=4):
    """Run the callables a few at a time (starting 19 zdaemons one by one
    takes 19 s); the first exception is raised once all are done."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(c) for c in calls]:
            future.result()


def build_marker(dest):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("no C compiler (cc) on PATH: cannot build the marker")
    src = dest + ".c"
    with open(src, "w") as f:
        f.write(MARKER_C)
    for extra in (["-static"], []):
        r = subprocess.run([cc, "-O2", *extra, "-o", dest, src],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return dest, ("static" if extra else "dynamic")
    raise SystemExit(f"cc failed:\n{r.stderr}")


def read_marker(path):
    try:
        with open(path) as f:
            ns, pid = f.read().split()
        return int(ns), int(pid)
    except (OSError, ValueError):
        return None


def wait_marker(path, not_pid=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = read_marker(path)
        if m and m[1] != not_pid and alive(m[1]):
            return m
        time.sleep(0.0005)
    return None


def measure_rounds(name, marker_file, rounds, settle, timeout, pid_of=None):
    """Kill the marker rounds times: a generator of latencies in ms, one
    per round, so that main() can interleave the rivals round by round
    (machine noise then hits all alike).

    pid_of: optional callable returning the program's pid as the supervisor
    reports it (used for `ours`); else the marker file's pid is used.
    """
    first = wait_marker(marker_file, timeout=timeout)
    if not first:
        raise Skip(f"{name}: the program never started (no marker in {timeout}s)")
    return _rounds(name, marker_file, rounds, settle, timeout, pid_of, first)


def _rounds(name, marker_file, rounds, settle, timeout, pid_of, first):
    cur = first
    for i in range(rounds):
        # let the program live past every rival's "died too young" threshold
        time.sleep(max(0.0, settle - (time.monotonic_ns() - cur[0]) / 1e9))
        pid = cur[1]
        if pid_of is not None:
            reported = pid_of()
            if reported != pid:
                log(f"  {name}: supervisor reports pid {reported}, marker says {pid}")
                pid = reported or pid
        t0 = time.monotonic_ns()
        kill_pid(pid)
        nxt = wait_marker(marker_file, not_pid=pid, timeout=timeout)
        if not nxt:
            log(f"  {name}: round {i + 1}: no successor within {timeout}s")
            break
        yield (nxt[0] - t0) / 1e6
        cur = nxt


# --- rivals ------------------------------------------------------------------

def measure_zdaemon(exe, marker, work, a):
    def zdaemon(d, program):
        os.makedirs(d)
        conf = os.path.join(d, "zdaemon.conf")
        with open(conf, "w") as f:
            f.write(f"""<runner>
  program {' '.join(program)}
  socket-name {d}/zdsock
  backoff-limit 1
  forever true
  directory {d}
  transcript {d}/transcript.log
</runner>
""")
        def stop():
            subprocess.run([exe, "-C", conf, "stop"], capture_output=True, timeout=30)
        CLEAN.push(lambda: reap_leftovers(d), "zdaemon leftovers")
        CLEAN.push(stop, "zdaemon stop")
        r = subprocess.run([exe, "-C", conf, "start"], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise Skip(f"zdaemon start failed: {r.stdout}{r.stderr}")

    parallel(lambda i=i: zdaemon(os.path.join(work, f"zd{i:03d}"),
                                 other_program(a, 1, i)) for i in range(2, a.services + 1))
    d = os.path.join(work, "zd")
    mf = os.path.join(d, "marker.out")
    zdaemon(d, [marker, mf])
    return measure_rounds("zdaemon", mf, a.rounds, a.settle, a.timeout)


def measure_runsv(exe, marker, work, a):
    for i in range(2, a.services + 1):
        d = os.path.join(work, f"rs{i:03d}")
        os.makedirs(d)
        with open(os.path.join(d, "run"), "w") as f:
            f.write("#!/bin/sh\nexec %s\n" % " ".join(other_program(a, 2, i)))
        os.chmod(os.path.join(d, "run"), 0o755)
        runsv(exe, d)
    d = os.path.join(work, "rs")
    os.makedirs(d)
    os.symlink(marker, os.path.join(d, "run"))  # runsv execs ./run, cwd = d
    mf = os.path.join(d, "marker.out")
    runsv(exe, d)
    return measure_rounds("runsv", mf, a.rounds, a.settle, a.timeout)


def runsv(exe, d):
    """One runsv for the service dir d (as runsvdir would start it)."""
    with open(os.path.join(d, "runsv.log"), "wb") as errlog:
        proc = subprocess.Popen([exe, d], stdin=subprocess.DEVNULL, stdout=errlog,
                                stderr=errlog, start_new_session=True)
    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)    # runsv: like `sv exit`
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # service shares runsv's group
        except ProcessLookupError:
            pass
        proc.wait()
    CLEAN.push(lambda: reap_leftovers(d), "runsv leftovers")
    CLEAN.push(stop, "runsv stop")


def measure_supervisord(exe, marker, work, a):
    d = os.path.join(work, "sd")
    os.makedirs(d)
    mf = os.path.join(d, "marker.out")
    conf = os.path.join(d, "supervisord.conf")
    with open(conf, "w") as f:
        f.write(f"""[supervisord]
nodaemon=true
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
directory={d}

[program:marker]
command={marker} {mf}
directory={d}
autorestart=true
startsecs=1
startretries=1000
stdout_logfile={d}/marker.log
redirect_stderr=true
""")
        for i in range(2, a.services + 1):
            f.write(f"""
[program:other{i:03d}]
command={' '.join(other_program(a, 3, i))}
directory={d}
autorestart=true
stdout_logfile={d}/other{i:03d}.log
redirect_stderr=true
""")
    with open(os.path.join(d, "stdout.log"), "wb") as errlog:
        proc = subprocess.Popen([exe, "-c", conf], stdin=subprocess.DEVNULL,
                                stdout=errlog, stderr=errlog, start_new_session=True)
    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
    CLEAN.push(lambda: reap_leftovers(d), "supervisord leftovers")
    CLEAN.push(stop, "supervisord stop")
    return measure_rounds("supervisord", mf, a.rounds, a.settle, a.timeout)


def measure_baseline(marker, work, a):
    d = os.path.join(work, "bp")
    os.makedirs(d)
    mf = os.path.join(d, "marker.out")
    script = os.path.join(d, "restarter.py")
    with open(script, "w") as f:
        f.write(BASELINE_PY)
    proc = subprocess.Popen([sys.executable, script, marker, mf], cwd=d,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    CLEAN.push(lambda: reap_leftovers(d), "baseline leftovers")
    CLEAN.push(stop, "baseline stop")
    return measure_rounds("baseline-py", mf, a.rounds, a.settle, a.timeout)


def measure_ours(start_cmd, stop_cmd, pid_cmd, marker_file, a):
    """HOOK for our keeper.  start_cmd/stop_cmd/pid_cmd are argv lists, e.g.
    [ctl, "start"], [ctl, "stop"], [ctl, "pid"]; marker_file is where the
    ctl's program (the marker binary, see --build-marker) writes its stamp.
    The program pid is taken from `ctl pid` each round and cross-checked
    against the marker; then it is killed like every rival's."""
    def pid_of():
        r = subprocess.run(pid_cmd, capture_output=True, text=True, timeout=30)
        m = re.search(r"\b(\d+)\b", r.stdout)
        return int(m.group(1)) if m else None

    last = {}
    def stop():
        subprocess.run(stop_cmd, capture_output=True, timeout=120)
        m = read_marker(marker_file)
        if m and alive(m[1]):
            log(f"  ours: program {m[1]} survived `stop`, SIGKILL")
            kill_pid(m[1])
    CLEAN.push(stop, "ours stop")
    try:
        os.unlink(marker_file)   # so the first stamp is this run's
    except FileNotFoundError:
        pass
    r = subprocess.run(start_cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Skip(f"ours: {' '.join(start_cmd)} failed: {r.stdout}{r.stderr}")
    return measure_rounds("ours", marker_file, a.rounds, a.settle, a.timeout,
                          pid_of=pid_of)


def measure_keeper(marker, work, a):
    """Our keeper, from this checkout: the ctl of a service whose program is
    the marker, with restart rules that never hold a restart back."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = os.path.join(work, "ours")
    os.makedirs(d)
    mf = os.path.join(d, "marker.out")
    ctl = [sys.executable, "-m", "buildout_script.ctl", "--name", "bench",
           "--program", f"{marker} {mf}", "--supervise", "--pid-dir", d + "/run",
           "--log-dir", d + "/log", "--restart-delay", "0", "--restart-limit", "100000"]
    run = lambda *action: [*ctl, *action]
    os.environ.update(PYTHONPATH=root)      # for the ctl commands measure_ours runs

    def other(i, action):
        argv = [*ctl[:4], f"other{i:03d}", "--program", " ".join(other_program(a, 4, i)),
                *ctl[7:], action]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Skip(f"ours: {' '.join(argv)} failed: {r.stdout}{r.stderr}")
    # Pushed first, so run last: the keeper ends with the last service.
    CLEAN.push(lambda: parallel(lambda i=i: other(i, "stop")
                                for i in range(2, a.services + 1)), "ours: the others stop")
    parallel(lambda i=i: other(i, "start") for i in range(2, a.services + 1))
    return measure_ours(run("start"), run("stop"), run("pid"), mf, a)


# --- reporting ---------------------------------------------------------------

def report(results, skipped):
    log("")
    log(f"{'rival':<12} {'n':>3} {'median ms':>10} {'min ms':>9} {'max ms':>9}"
        f" {'mean ms':>9}")
    med = {}
    for name, xs in results.items():
        if not xs:
            continue
        med[name] = statistics.median(xs)
        log(f"{name:<12} {len(xs):>3} {med[name]:>10.3f} {min(xs):>9.3f}"
            f" {max(xs):>9.3f} {statistics.fmean(xs):>9.3f}")
    for name, why in skipped.items():
        log(f"{name:<12} skipped: {why}")
    if len(med) > 1:
        log("")
        log("ratios of medians (row / column):")
        names = list(med)
        log(" " * 12 + "".join(f"{n:>13}" for n in names))
        for r in names:
            log(f"{r:<12}" + "".join(f"{med[r] / med[c]:>13.2f}" for c in names))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--settle", type=float, default=1.3,
                   help="seconds a program lives before it is killed (> every "
                        "rival's too-young threshold, 1 s)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for a successor")
    p.add_argument("--zdaemon", help="path of zdaemon (zdctl); default: PATH")
    p.add_argument("--runsv", help="path of runsv; default: PATH")
    p.add_argument("--supervisord", help="path of supervisord; default: PATH")
    p.add_argument("--only", help="comma list of rivals to run "
                   "(zdaemon,runsv,supervisord,baseline-py,ours)")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--services", type=int, default=1,
                   help="programs each rival keeps, the marker included: ours "
                        "keeps them in one pid dir, under one keeper")
    p.add_argument("--ours", metavar="CTL_SCRIPT",
                   help="generated bin/NAMEctl whose program is the marker")
    p.add_argument("--ours-marker", metavar="FILE",
                   help="marker file the ctl's program writes (its argv[1] or "
                        "$MARKER_FILE, else marker.out in its cwd)")
    p.add_argument("--base", default="/tmp",
                   help="directory for the run's temp dir (service dirs, state "
                        "files live there; its filesystem matters, e.g. /dev/shm)")
    p.add_argument("--build-marker", metavar="PATH",
                   help="only build the marker binary at PATH and exit")
    a = p.parse_args()

    if a.build_marker:
        path, kind = build_marker(os.path.abspath(a.build_marker))
        log(f"{path} ({kind})")
        return 0
    if a.ours and not a.ours_marker:
        p.error("--ours needs --ours-marker FILE")
    if a.ours and a.services != 1:
        p.error("--services is for ours from this checkout, not with --ours")
    if a.services < 1:
        p.error("--services must be at least 1")
    a.tag = "8%04d." % (os.getpid() % 10000)   # of the others' sleeps

    only = set(a.only.split(",")) if a.only else None
    want = lambda n: only is None or n in only

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupted)   # also when started with INT ignored
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    work = tempfile.mkdtemp(prefix="benchrs-", dir=a.base)
    CLEAN.push(lambda: shutil.rmtree(work, ignore_errors=True), "temp dir")
    CLEAN.push(lambda: reap_leftovers(work), "anything left in the temp dir")
    CLEAN.push(lambda: kill_tagged(a.tag), "the other programs left")
    results, skipped = {}, {}
    try:
        marker, kind = build_marker(os.path.join(work, "marker"))
        log(f"marker: {marker} ({kind}), rounds={a.rounds}, settle={a.settle}s, "
            f"cpus={os.cpu_count()}, kernel={os.uname().release}")
        log(f"services: {a.services} kept by each rival (the marker and "
            f"{a.services - 1} others), baseline-py keeps the marker alone; "
            f"load {' '.join(open('/proc/loadavg').read().split()[:3])}")

        rivals, rounds = [], {}
        zd = a.zdaemon or shutil.which("zdaemon") or shutil.which("zdctl")
        rivals.append(("zdaemon", zd, "not found (--zdaemon PATH, or put it on PATH)",
                       lambda: measure_zdaemon(zd, marker, work, a)))
        rs = a.runsv or shutil.which("runsv")
        rivals.append(("runsv", rs, "not found (apt-get install runit, or --runsv)",
                       lambda: measure_runsv(rs, marker, work, a)))
        sd = a.supervisord or shutil.which("supervisord")
        rivals.append(("supervisord", sd, "not found (optional; --supervisord PATH)",
                       lambda: measure_supervisord(sd, marker, work, a)))
        if not a.no_baseline:
            rivals.append(("baseline-py", True, "",
                           lambda: measure_baseline(marker, work, a)))
        if not a.ours:
            rivals.append(("ours", True, "", lambda: measure_keeper(marker, work, a)))
        else:
            ctl = os.path.abspath(a.ours)
            rivals.append(("ours", os.access(ctl, os.X_OK), f"{ctl} not executable",
                           lambda: measure_ours([ctl, "start"], [ctl, "stop"],
                                                [ctl, "pid"],
                                                os.path.abspath(a.ours_marker), a)))

        for name, found, why, run in rivals:
            if not want(name):
                continue
            if not found:
                skipped[name] = why
                log(f"{name}: skipped, {why}")
                continue
            log(f"{name}: starting ...")
            try:
                rounds[name] = run()
            except Skip as exc:
                skipped[name] = str(exc)
                log(f"{name}: skipped, {exc}")
        # Rounds interleaved: one kill per rival in turn (each program still
        # lives --settle seconds between its kills).
        results = {name: [] for name in rounds}
        while rounds:
            for name, gen in list(rounds.items()):
                try:
                    results[name].append(next(gen))
                except StopIteration:
                    del rounds[name]
        for name, xs in results.items():
            log(f"{name}: " + " ".join(f"{x:.2f}" for x in xs))
        report(results, skipped)
    except KeyboardInterrupt:
        log("\ninterrupted; stopping everything started ...")
        report(results, skipped)
        return 130
    finally:
        CLEAN.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
