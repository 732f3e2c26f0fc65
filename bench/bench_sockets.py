#!/usr/bin/env python3
"""Requests that fail while a web service is restarted or killed, side by side.

The same gunicorn (two workers, a hello-world WSGI app, ``--graceful-timeout
5``) is kept three ways, each on its own port, all in one run:

  ours-listen   supervised, ``listen = 127.0.0.1:PORT``: the keeper holds the
                socket and a restart starts the new gunicorn beside the old
                one (``ready = notify``: gunicorn says READY=1)
  ours-plain    supervised, gunicorn binds the port itself (``--bind``), as
                before held sockets: a restart stops, then starts
  supervisord   ``[program:web]`` with ``--bind``, ``supervisorctl restart``

A client thread per rival sends HTTP requests back to back, each on a new
connection (http.client, 10 s timeout), for the whole run.  Then, round
after round, each rival in turn is restarted (``ctl restart``,
``supervisorctl restart web``); then each gunicorn master is killed with
SIGKILL and the bench waits until a new master answers.  Every request is
counted in the phase it began in: failed requests, all requests, and the
slowest one.  The restart command's own wall time is printed as a median.

gunicorn's control socket is turned off (``--no-control-socket``), since
every gunicorn of a user would share one path; ours restarts a killed
program at once and up to 100 times an hour here (``--restart-delay 0
--restart-limit 100``), as supervisord does for a program that ran past
``startsecs``: with the defaults (10 s, doubling; 5 an hour) it would give
up within the kill rounds, and with ``listen`` hold the connections of
the wait in the socket's queue, past the client's timeout.

The rivals come from bench/.scratch/venv (made by bench_control.py's
ensure_venv; gunicorn is added to it here).  Ours runs from this checkout
as ``python -m buildout_script.ctl``.  Everything started is stopped at the
end, also on Ctrl-C.

Usage:
  python3 bench/bench_sockets.py [--rounds 5] [--only ours-listen,supervisord]
"""

import argparse
import http.client
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_control  # noqa: E402
import bench_memory  # noqa: E402

VPY = bench_control.VPY
GUNICORN = 'gunicorn==27.0.1'
APP = '''def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello\\n']
'''
PHASES = ('restart', 'kill -9')


def ensure_gunicorn():
    bench_control.ensure_venv()
    probe = [str(VPY), '-c', 'import gunicorn']
    if subprocess.run(probe, stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run([str(VPY), '-m', 'pip', 'install', '-q', GUNICORN], check=True)
    bench_control.compile_ours()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Client:
    """Requests back to back; each one noted as (began, seconds, error)."""

    def __init__(self, port):
        self.port, self.requests, self.running = port, [], True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            began = time.monotonic()
            error = None
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
                c.request('GET', '/')
                response = c.getresponse()
                if response.read() != b'hello\n' or response.status != 200:
                    error = 'answer %d' % response.status
                c.close()
            except (OSError, http.client.HTTPException) as e:
                error = type(e).__name__
            self.requests.append((began, time.monotonic() - began, error))

    def stop(self):
        self.running = False
        self.thread.join(20)

    def between(self, start, end):
        return [r for r in self.requests if start <= r[0] < end]


def answers(port):
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
        c.request('GET', '/')
        ok = c.getresponse().read() == b'hello\n'
        c.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


class Rival:
    def __init__(self, work, label):
        self.label, self.work = label, work / label
        self.work.mkdir()
        (self.work / 'hello.py').write_text(APP)
        self.port = free_port()
        self.restart_times = []

    def gunicorn(self, bind):
        return [str(VPY), '-m', 'gunicorn', '--workers', '2', '--graceful-timeout', '5',
                '--no-control-socket', '--chdir', str(self.work)] + (['--bind', bind] if bind else []) \
            + ['hello:application']

    def restart(self):
        began = time.monotonic()
        self.command('restart')
        self.restart_times.append(time.monotonic() - began)

    def kill(self):
        old = self.master()
        os.kill(old, signal.SIGKILL)
        if not bench_memory.wait_until(
                lambda: self.master() not in (None, old) and answers(self.port), 60, 0.05):
            raise bench_memory.Failed('%s: no new master answered within 60 s' % self.label)


class Ours(Rival):
    def __init__(self, work, label, listen):
        super().__init__(work, label)
        self.listen = listen
        self.env = dict(bench_control.clean_env(), PYTHONPATH=str(bench_control.REPO))
        self.started = False

    def command(self, action):
        bind = None if self.listen else '127.0.0.1:%d' % self.port
        argv = [str(VPY), '-m', 'buildout_script.ctl', '--name', 'web',
                '--program', shlex.join(self.gunicorn(bind)),
                '--pid-dir', str(self.work / 'run'), '--log-dir', str(self.work / 'log'),
                '--supervise', 'true', '--ready', 'notify', '--stop-timeout', '10',
                '--restart-limit', '100', '--restart-delay', '0']
        if self.listen:
            argv += ['--listen', '127.0.0.1:%d' % self.port]
        done = subprocess.run(argv + [action], env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        if done.returncode != 0:
            raise bench_memory.Failed('%s: %s exit %d: %s%s' % (
                self.label, action, done.returncode, done.stdout, done.stderr))

    def start(self):
        self.command('start')
        self.started = True

    def master(self):
        try:
            return int((self.work / 'run' / 'web.pid').read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def clean_up(self):
        if self.started:
            try:
                self.command('stop')
            except Exception as e:
                print('cleanup of %s: %s' % (self.label, e), file=sys.stderr)


class Supervisord(Rival):
    def __init__(self, work, label):
        super().__init__(work, label)
        self.daemon = None
        self.conf = self.work / 'supervisord.conf'
        self.ctl = [str(bench_control.VENV / 'bin' / 'supervisorctl'), '-c', str(self.conf)]

    def command(self, action):
        done = subprocess.run(self.ctl + [action, 'web'], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise bench_memory.Failed('supervisord: %s exit %d: %s' % (
                action, done.returncode, done.stdout))

    def start(self):
        sock = self.work / 'supervisor.sock'
        self.conf.write_text(textwrap.dedent('''\
            [unix_http_server]
            file = {sock}
            [supervisord]
            logfile = {work}/supervisord.log
            pidfile = {work}/supervisord.pid
            nodaemon = true
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            [supervisorctl]
            serverurl = unix://{sock}
            [program:web]
            command = {program}
            stdout_logfile = {work}/web.log
            redirect_stderr = true
            stopwaitsecs = 10
            ''').format(sock=sock, work=self.work,
                        program=shlex.join(self.gunicorn('127.0.0.1:%d' % self.port))))
        with open(self.work / 'supervisord.console', 'ab') as console:
            self.daemon = subprocess.Popen(
                [str(bench_control.VENV / 'bin' / 'supervisord'), '-c', str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                env=bench_control.clean_env(), start_new_session=True)
        if not bench_memory.wait_until(lambda: answers(self.port), 30, 0.1):
            raise bench_memory.Failed('supervisord: gunicorn did not answer; see %s'
                                      % (self.work / 'web.log'))

    def master(self):
        out = subprocess.run(self.ctl + ['pid', 'web'], capture_output=True, text=True).stdout
        return int(out) if out.strip().isdigit() and int(out) else None

    def clean_up(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()


def leftovers(work):
    """Any gunicorn of this run still alive after the clean-up."""
    return [pid for pid, argv in bench_memory.command_lines().items()
            if 'gunicorn' in argv and str(work) in argv]


def run(rivals, rounds, settle):
    clients = {r.label: Client(r.port) for r in rivals}
    time.sleep(settle)
    windows = {}
    for phase, act in zip(PHASES, ('restart', 'kill')):
        began = time.monotonic()
        for _ in range(rounds):
            for rival in rivals:
                getattr(rival, act)()
                time.sleep(settle)
        windows[phase] = (began, time.monotonic())
    for client in clients.values():
        client.stop()
    return clients, windows


def report(rivals, clients, windows, rounds):
    print('%d restarts, then %d kill -9 of the gunicorn master, per rival; '
          'a client sending requests back to back to each' % (rounds, rounds))
    print('%-12s %-8s %8s %9s %12s %14s' % ('rival', 'phase', 'failed', 'requests',
                                           'slowest (s)', 'restart (ms)'))
    for rival in rivals:
        for phase in PHASES:
            done = clients[rival.label].between(*windows[phase])
            failed = [r for r in done if r[2]]
            kinds = sorted({r[2] for r in failed})
            timing = ('%.0f' % (statistics.median(rival.restart_times) * 1000)
                      if phase == 'restart' else '')
            print(('%-12s %-8s %8d %9d %12.3f %14s %s' % (
                rival.label, phase, len(failed), len(done),
                max((r[1] for r in done), default=0), timing, ' '.join(kinds))).rstrip())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--settle', type=float, default=2.0,
                   help='seconds between two actions (default 2)')
    p.add_argument('--only', help='comma list of ours-listen,ours-plain,supervisord')
    args = p.parse_args()
    ensure_gunicorn()
    chosen = args.only.split(',') if args.only else ['ours-listen', 'ours-plain', 'supervisord']
    work = Path(tempfile.mkdtemp(prefix='bench-sockets-'))
    makers = {'ours-listen': lambda: Ours(work, 'ours-listen', True),
              'ours-plain': lambda: Ours(work, 'ours-plain', False),
              'supervisord': lambda: Supervisord(work, 'supervisord')}
    rivals = []
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    failed = True
    try:
        for label in chosen:
            rivals.append(makers[label]())
            rivals[-1].start()
        print('load average: %s' % ' '.join(open('/proc/loadavg').read().split()[:3]))
        clients, windows = run(rivals, args.rounds, args.settle)
        report(rivals, clients, windows, args.rounds)
        failed = False
    finally:
        for rival in rivals:
            rival.clean_up()
        bench_memory.kill_pids(leftovers(work))
        if failed:
            print('logs and configurations left in %s' % work, file=sys.stderr)
        else:
            subprocess.run(['rm', '-rf', str(work)])


if __name__ == '__main__':
    main()
