"""Long runs against a crashing world: what the test suite is too short for.

    python3 bench/chaos.py [--seconds 60] [--workers 4] [--supervise]

Four phases, each for --seconds, on one service whose program forks a
worker into its own session (os.setsid) and another into its group:

1. cycles: ``ctl start`` then ``ctl stop``; after each stop, nothing that
   carries the service's mark may be left (an orphan otherwise).
2. kill -9: ``ctl start``, ``stop`` or ``restart`` killed with SIGKILL at a
   random moment (0-150 ms), then a clean ``ctl start``: exactly one copy of
   the program must run, and it must be the one the PID file names; then a
   clean ``ctl stop``: nothing may be left.
3. concurrent: --workers threads run random start/stop/restart/status/check
   commands at once; then a clean ``start`` (one copy, the recorded one) and
   ``stop`` (nothing left).
4. interrupts: a ``start`` whose ``ready`` probe (``exec:false``) never
   passes gets SIGINT, SIGTERM or SIGHUP at a random moment (0-300 ms), as
   Ctrl-C or a closed terminal would: it must end within 10 s (hung
   otherwise), saying it was interrupted; then a clean ``start`` and
   ``stop``.

With --supervise the service is kept (``supervise = true``): the kills
then land while ``start`` starts the keeper or waits for its answer, and
after a clean stop the keeper, which then keeps nothing, must be gone too
(it counts as an orphan otherwise).

It counts duplicates (more than one copy after a start), orphans (anything
marked after a stop), hung interrupted starts, stuck locks (a command that did not end within 60 s, or
said it gave up waiting for the lock) and tracebacks in any output, and
prints them.  Exit status 1 if any is not 0.  Runs as any user; Linux only
(/proc).  Not part of the test suite.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVICE = '''import os, sys, time
if os.fork() == 0:                      # a worker in a session of its own
    os.setsid()
    os.execvp('sleep', ['sleep', '300'])
if os.fork() == 0:                      # a worker in the service's group
    os.execvp('sleep', ['sleep', '301'])
time.sleep(300)
'''


class Chaos:

    def __init__(self, base, supervise=False):
        self.base = base
        self.supervise = supervise
        self.pid_dir = os.path.join(base, 'run')
        self.program = os.path.join(base, 'chaos_service.py')
        with open(self.program, 'w') as f:
            f.write(SERVICE)
        self.mark = ('BUILDOUT_SCRIPT_SERVICE=%s/chaos' % self.pid_dir).encode()
        self.env = dict(os.environ, PYTHONPATH=ROOT)
        self.counts = dict(commands=0, duplicates=0, orphans=0, hung=0, stuck_locks=0,
                           tracebacks=0)
        self.lock = threading.Lock()

    def argv(self, *action):
        return [sys.executable, '-m', 'buildout_script.ctl' if action[0] != 'check'
                else 'buildout_script.check', '--name', 'chaos', '--program',
                '%s %s' % (sys.executable, self.program), '--pid-dir', self.pid_dir,
                '--log-dir', os.path.join(self.base, 'log'), '--stop-timeout', '3',
                '--start-timeout', '3', '--supervise', 'true' if self.supervise else 'false',
                ] + [a for a in action if a != 'check']

    def run(self, *action):
        try:
            done = subprocess.run(self.argv(*action), env=self.env, capture_output=True,
                                  text=True, timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.count('stuck_locks')
            return None
        self.count('commands')
        output = done.stdout + done.stderr
        if 'Traceback' in output:
            self.count('tracebacks')
            print(output, file=sys.stderr)
        if 'giving up' in output:
            self.count('stuck_locks')
        return done

    def popen(self, *action):
        return subprocess.Popen(self.argv(*action), env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def marked(self):
        """PIDs of live processes carrying the service's mark."""
        found = []
        for name in os.listdir('/proc'):
            if not name.isdigit():
                continue
            try:
                with open('/proc/%s/environ' % name, 'rb') as f:
                    if (b'\0' + self.mark + b'\0') not in b'\0' + f.read() + b'\0':
                        continue
                with open('/proc/%s/stat' % name) as f:
                    if f.read().rpartition(')')[2].split()[0] == 'Z':
                        continue
            except OSError:
                continue
            found.append(int(name))
        return found

    def copies(self):
        """PIDs of the program itself: not its workers, nor a fork of it that
        has not yet exec'd its worker (its parent is a copy)."""
        found = {}
        for pid in self.marked():
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    if self.program.encode() not in f.read():
                        continue
                with open('/proc/%d/stat' % pid) as f:
                    found[pid] = int(f.read().rpartition(')')[2].split()[1])
            except (OSError, ValueError):
                continue
        return sorted(pid for pid, ppid in found.items() if ppid not in found)

    def recorded(self):
        try:
            with open(os.path.join(self.pid_dir, 'chaos.pid')) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def clean_start(self):
        self.run('start')
        copies = self.copies()
        if len(copies) != 1 or copies[0] != self.recorded():
            self.count('duplicates')
            print('after start: copies %s, recorded %s' % (copies, self.recorded()),
                  file=sys.stderr)

    def keepers(self):
        """PIDs of live keepers of our pid dir (its command line names it)."""
        found = []
        for name in os.listdir('/proc'):
            try:
                with open('/proc/%s/cmdline' % name, 'rb') as f:
                    words = f.read().split(b'\0')
            except OSError:
                continue
            if b'buildout_script.keeper' in words and self.pid_dir.encode() in words:
                found.append(int(name))
        return found

    def clean_stop(self):
        self.run('stop')
        left = self.marked()
        if self.supervise:              # it ends once it keeps nothing: give it a moment
            deadline = time.monotonic() + 5
            while self.keepers() and time.monotonic() < deadline:
                time.sleep(0.01)
            left += self.keepers()
        if left:
            self.count('orphans', len(left))
            print('after stop: left %s' % left, file=sys.stderr)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    # -- the phases ---------------------------------------------------------------------------

    def cycles(self, seconds):
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            self.clean_start()
            self.clean_stop()
            n += 1
        return n

    def kills(self, seconds):
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            ctl = self.popen(random.choice(['start', 'stop', 'restart']))
            time.sleep(random.uniform(0, 0.15))
            ctl.send_signal(signal.SIGKILL)
            ctl.wait()
            self.clean_start()
            self.clean_stop()
            n += 1
        return n

    def interrupts(self, seconds):
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            ctl = self.popen('--ready', 'exec:false', '--start-timeout', '60', 'start')
            time.sleep(random.uniform(0, 0.3))
            ctl.send_signal(random.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))
            try:
                ctl.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.count('hung')
                print('an interrupted start (pid %d) still runs after 10 s' % ctl.pid,
                      file=sys.stderr)
                ctl.kill()
                ctl.wait()
            self.count('commands')
            self.clean_start()
            self.clean_stop()
            n += 1
        return n

    def concurrent(self, seconds, workers):
        end = time.monotonic() + seconds
        before = self.counts['commands']

        def work():
            while time.monotonic() < end:
                self.run(random.choice(['start', 'stop', 'restart', 'status', 'check']))
        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.clean_start()
        self.clean_stop()
        return self.counts['commands'] - before


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seconds', type=float, default=60, help='per phase (default 60)')
    p.add_argument('--workers', type=int, default=4)
    p.add_argument('--supervise', action='store_true', help='the service kept by a keeper')
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))   # clean up below
    base = tempfile.mkdtemp(prefix='chaos-')
    os.chmod(base, 0o755)
    chaos = Chaos(base, args.supervise)
    try:
        print('command:   %s %s' % (os.path.basename(sys.executable), ' '.join(sys.argv)))
        print('cycles:    %d start/stop cycles' % chaos.cycles(args.seconds))
        print('kill -9:   %d commands killed at random moments' % chaos.kills(args.seconds))
        print('concurrent: %d commands from %d workers'
              % (chaos.concurrent(args.seconds, args.workers), args.workers))
        print('interrupts: %d starts interrupted at random moments' % chaos.interrupts(args.seconds))
        c = chaos.counts
        print('%d commands in all: %d duplicates, %d orphans, %d hung, %d stuck locks,'
              ' %d tracebacks' % (c['commands'], c['duplicates'], c['orphans'], c['hung'],
                                  c['stuck_locks'], c['tracebacks']))
        return 1 if any(c[k] for k in ('duplicates', 'orphans', 'hung', 'stuck_locks',
                                       'tracebacks')) else 0
    finally:
        subprocess.run(chaos.argv('stop'), env=chaos.env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
