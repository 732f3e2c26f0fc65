#!/usr/bin/env python3
"""What keeping services costs in memory: the keeper's PSS with 1, 20 and
100 supervised services, next to supervisord's with the same programs.

Why this exists: one keeper per pid dir replaced one keeper per service,
whose Python process cost some 5 MiB of PSS each.  The targets: with 20
services the keeper uses no more than supervisord, and each service more
costs it at most 0.5 MiB.

Method.  For each count N (``--counts``, default 1,20,100), round after
round (``--rounds``, default 3):

  * ours -- N services ``sNNN`` with ``supervise = true`` in one pid dir,
    each started with ``python -m buildout_script.ctl --name sNNN --program
    '/bin/sleep TAG' --pid-dir D/run --log-dir D/log --supervise true
    start`` from this checkout (the first alone, the others --jobs at a
    time), so that one keeper keeps them all;
  * supervisord -- one supervisord with N ``[program:sNNN]`` sections
    (``command = /bin/sleep TAG``, ``stdout_logfile`` in its log dir,
    ``redirect_stderr``, the default ``startsecs = 1``) and its control
    socket, waited for until ``supervisorctl status`` says RUNNING for all;
  * with ``--also DIR``: the same starts as ours, run from another checkout
    of buildout_script (say the commit before the one-keeper change, whose
    keeper kept one service each).

Both (or all three) keep their N programs at the same time, so the pages
they share (the Python binary) are divided among them alike; after
``--settle`` seconds (default 2) the bench reads, for every process that
manages (ours: each process whose command line is ``... -m
buildout_script.keeper ... D/run``; supervisord: its one process), Pss,
Rss and Private_Clean + Private_Dirty (USS) in /proc/PID/smaps_rollup, and
counts the managers and the running programs.  Then it stops everything
(``ctl stop`` of each service; TERM for supervisord), checks that nothing
is left, and goes on with the next count.  Each rival's figure is the
median over the rounds; the report gives the ratio ours / supervisord at
each N and what each service more costs: (PSS(N2) - PSS(N1)) / (N2 - N1)
between neighbouring counts.

Every rival runs on the Python of bench/.scratch/venv (made by
bench_control.py, which pip-installs supervisor and zdaemon into it; made
here too if missing), so the interpreter is the same for all.  Everything
started is stopped at the end, also on Ctrl-C, SIGTERM or SIGHUP; a last
pass kills whatever still carries the run's tag.

Usage:  python3 bench/bench_memory.py [--counts 1,20,100] [--rounds 3]
            [--jobs 4] [--settle 2] [--also DIR] [--keep]
"""

import argparse
import concurrent.futures
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_control  # noqa: E402  (the scratch venv, shared with the control bench)

REPO = bench_control.REPO
VPY = bench_control.VPY
VENV = bench_control.VENV
SLEEP = bench_control.SLEEP
MiB = 1024.0 * 1024


def smaps_rollup(pid):
    """{'Pss': bytes, 'Rss': bytes, 'Uss': bytes} of ``pid``, or None if gone."""
    values = {}
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == 'kB':
                    values[parts[0].rstrip(':')] = int(parts[1]) * 1024
    except OSError:
        return None
    return {'Pss': values.get('Pss', 0), 'Rss': values.get('Rss', 0),
            'Uss': values.get('Private_Clean', 0) + values.get('Private_Dirty', 0)}


def command_lines():
    """{pid: argv} of every process (zombies and kernel threads have none)."""
    found = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/cmdline' % entry, 'rb') as f:
                    argv = f.read().split(b'\0')[:-1]
            except OSError:
                continue
            if argv:
                found[int(entry)] = [a.decode(errors='replace') for a in argv]
    return found


def tagged_sleeps(prefix, lines=None):
    """PIDs of the ``sleep TAG`` programs whose TAG starts with ``prefix``."""
    lines = command_lines() if lines is None else lines
    return [pid for pid, argv in lines.items()
            if len(argv) == 2 and os.path.basename(argv[0]) == 'sleep'
            and argv[1].startswith(prefix)]


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def wait_until(predicate, timeout, pause=0.02):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
    return True


def parallel(calls, jobs=4):
    """Run the callables ``jobs`` at a time; the first exception is raised
    once all are done."""
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


class Failed(Exception):
    pass


class Rival:
    label = '?'

    def __init__(self, work, tag):
        self.work = Path(work)
        self.tag = tag                  # every program's argument starts with it
        self.count = 0

    def program(self, i):
        return [SLEEP, '%s%03d' % (self.tag, i)]

    def managers(self, lines):
        raise NotImplementedError

    def programs(self, lines):
        return tagged_sleeps(self.tag, lines)

    def clean_up(self):
        """Last resort: KILL what carries our tag."""
        kill_pids(tagged_sleeps(self.tag))


class Ours(Rival):
    """Supervised services run from a checkout, one ctl command each."""

    def __init__(self, work, tag, root, label, jobs):
        super().__init__(work, tag)
        self.root, self.label, self.jobs = root, label, jobs
        self.env = dict(bench_control.clean_env(), PYTHONPATH=str(root))
        self.pid_dir = self.work / 'run'
        self.options = []                       # more ctl options, for other benches

    def ctl(self, i, action):
        argv = [str(VPY), '-m', 'buildout_script.ctl', '--name', 's%03d' % i,
                '--program', shlex.join(self.program(i)), '--pid-dir', str(self.pid_dir),
                '--log-dir', str(self.work / 'log'), '--supervise', 'true', *self.options,
                action]
        done = subprocess.run(argv, env=self.env, cwd=str(self.root), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120)
        if done.returncode != 0:
            raise Failed('%s: %s exit %d: %s%s' % (self.label, shlex.join(argv[2:]),
                                                   done.returncode, done.stdout, done.stderr))

    def each(self, action, numbers):
        parallel((lambda i=i: self.ctl(i, action) for i in numbers), self.jobs)

    def start(self, count):
        self.count = count
        self.ctl(1, 'start')                    # the keeper starts with the first
        self.each('start', range(2, count + 1))

    def managers(self, lines):
        return [pid for pid, argv in lines.items()
                if 'buildout_script.keeper' in argv and str(self.pid_dir) in argv]

    def stop(self):
        count, self.count = self.count, 0
        self.each('stop', range(1, count + 1))
        if not wait_until(lambda: not self.managers(command_lines()), 10):
            raise Failed('%s: a keeper outlived the stop of every service' % self.label)

    def clean_up(self):
        if self.count:
            try:
                self.stop()
            except Exception as e:
                print('cleanup of %s: %s' % (self.label, e), file=sys.stderr)
        kill_pids(self.managers(command_lines()))
        super().clean_up()


class Supervisord(Rival):
    label = 'supervisord'

    def __init__(self, work, tag):
        super().__init__(work, tag)
        self.daemon = None
        self.conf = self.work / 'supervisord.conf'
        self.program_options = ''              # more [program:] lines, for other benches

    def start(self, count):
        self.count = count
        (self.work / 'log').mkdir(exist_ok=True)
        sock = self.work / 'supervisor.sock'
        text = textwrap.dedent('''\
            [unix_http_server]
            file = {sock}

            [supervisord]
            logfile = {work}/supervisord.log
            pidfile = {work}/supervisord.pid
            childlogdir = {work}
            nodaemon = true

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            [supervisorctl]
            serverurl = unix://{sock}
            ''').format(sock=sock, work=self.work)
        for i in range(1, count + 1):
            text += textwrap.dedent('''
                [program:s{i:03d}]
                command = {program}
                stdout_logfile = {work}/log/s{i:03d}.log
                redirect_stderr = true
                ''').format(i=i, program=shlex.join(self.program(i)), work=self.work)
            text += self.program_options
        self.conf.write_text(text)
        with open(self.work / 'supervisord.console', 'ab') as console:
            self.daemon = subprocess.Popen(
                [str(VENV / 'bin' / 'supervisord'), '-c', str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                env=bench_control.clean_env(), start_new_session=True)
        status = [str(VENV / 'bin' / 'supervisorctl'), '-c', str(self.conf), 'status']

        def all_running():
            out = subprocess.run(status, capture_output=True, text=True).stdout
            return sum(' RUNNING ' in line for line in out.splitlines()) == count
        if not wait_until(all_running, 30 + count * 0.2, pause=0.2):
            raise Failed('supervisord: not all %d programs RUNNING; see %s'
                         % (count, self.work / 'supervisord.log'))

    def managers(self, lines):
        if self.daemon is None or self.daemon.poll() is not None:
            return []
        return [self.daemon.pid]

    def stop(self):
        self.stopping, self.count = self.count, 0
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()             # it stops its programs on TERM,
            try:                                # reaping about one a second
                self.daemon.wait(30 + self.stopping)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def clean_up(self):
        self.stop()
        super().clean_up()


def measure(rivals, count):
    """{label: (PSS, USS, RSS, managers, programs)} of every rival, at once."""
    lines = command_lines()
    figures = {}
    for rival in rivals:
        managers = rival.managers(lines)
        sums = {'Pss': 0, 'Uss': 0, 'Rss': 0}
        for pid in managers:
            values = smaps_rollup(pid) or {}
            for key in sums:
                sums[key] += values.get(key, 0)
        programs = len(rival.programs(lines))
        if programs != count:
            raise Failed('%s: %d programs running, not %d' % (rival.label, programs, count))
        figures[rival.label] = (sums['Pss'], sums['Uss'], sums['Rss'], len(managers),
                                programs)
    return figures


def stop_all(rivals):
    """Stop every rival, even when one fails to; then say who failed."""
    failures = []
    for rival in rivals:
        try:
            rival.stop()
        except Failed as e:
            failures.append(str(e))
    if failures:
        raise Failed('; '.join(failures))


def bench(args, work):
    tag = '9%04d.%03d' % (os.getpid() % 10000, 0)
    rivals = [Ours(work / 'ours', tag[:-3] + '101', REPO, 'ours', args.jobs),
              Supervisord(work / 'supervisord', tag[:-3] + '102')]
    if args.also:
        rivals.append(Ours(work / 'also', tag[:-3] + '103', Path(args.also).resolve(),
                           'ours (%s)' % args.also, args.jobs))
    for rival in rivals:
        rival.work.mkdir(parents=True)
    samples = {}                                # (count, label) -> [figures]
    turn = 0
    try:
        for round_no in range(args.rounds):
            for count in args.counts:
                shift, turn = turn % len(rivals), turn + 1
                order = rivals[shift:] + rivals[:shift]
                try:
                    for rival in order:
                        rival.start(count)
                    time.sleep(args.settle)
                    for label, figures in measure(rivals, count).items():
                        samples.setdefault((count, label), []).append(figures)
                finally:
                    stop_all(order)
                left = tagged_sleeps(tag[:-3])
                if left:
                    raise Failed('programs left after the stops: %s' % left)
                print('round %d/%d, %d services: done' % (round_no + 1, args.rounds, count),
                      file=sys.stderr)
    finally:
        for rival in rivals:
            rival.clean_up()
    return rivals, samples


def report(args, rivals, samples):
    def median(count, label, index):
        return statistics.median(s[index] for s in samples[(count, label)])

    labels = [r.label for r in rivals]
    load = open('/proc/loadavg').read().split()[:3]
    print('command:   %s' % ' '.join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print('python:    %s (venv)   supervisor %s   nproc %d   kernel %s' % (
        subprocess.run([str(VPY), '-c', 'import platform; print(platform.python_version())'],
                       capture_output=True, text=True).stdout.strip(),
        bench_control.venv_version('supervisor'), os.cpu_count(), platform.release()))
    print('load:      %s (1, 5, 15 min, at the end)' % ' '.join(load))
    print('rounds:    %d per count, rivals up at the same time, order rotated; program %s TAG'
          % (args.rounds, SLEEP))
    print()
    print('median over the rounds; MiB from /proc/PID/smaps_rollup, summed over the managers')
    header = '%9s  %-22s %9s %9s %9s %9s %9s' % ('services', 'rival', 'managers',
                                                 'processes', 'PSS MiB', 'USS MiB', 'RSS MiB')
    print(header)
    print('-' * len(header))
    for count in args.counts:
        for label in labels:
            managers = median(count, label, 3)
            print('%9d  %-22s %9d %9d %9.2f %9.2f %9.2f' % (
                count, label, managers, managers + count, median(count, label, 0) / MiB,
                median(count, label, 1) / MiB, median(count, label, 2) / MiB))
    print()
    print('ratio of PSS medians, ours / supervisord')
    for count in args.counts:
        print('%9d services: %s' % (count, '   '.join(
            '%s %.2fx' % (label, median(count, label, 0) / median(count, 'supervisord', 0))
            for label in labels if label != 'supervisord')))
    print()
    print('each service more (PSS difference / services added), MiB')
    for low, high in zip(args.counts, args.counts[1:]):
        print('%4d -> %-4d %s' % (low, high, '   '.join(
            '%s %.3f' % (label, (median(high, label, 0) - median(low, label, 0))
                         / MiB / (high - low)) for label in labels)))
    print()
    if 20 in args.counts:
        ours, theirs = median(20, 'ours', 0), median(20, 'supervisord', 0)
        print('target, 20 services: ours <= supervisord: %s (%.2f vs %.2f MiB)' % (
            'met' if ours <= theirs else 'NOT met', ours / MiB, theirs / MiB))
    worst = max(((median(high, 'ours', 0) - median(low, 'ours', 0)) / MiB / (high - low)
                 for low, high in zip(args.counts, args.counts[1:])), default=None)
    if worst is not None:
        print('target, each service more <= 0.5 MiB: %s (at most %.3f MiB)' % (
            'met' if worst <= 0.5 else 'NOT met', worst))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--counts', default='1,20,100',
                        help='comma list of service counts (default 1,20,100)')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--jobs', type=int, default=4,
                        help='ctl commands at once while starting and stopping')
    parser.add_argument('--settle', type=float, default=2.0,
                        help='seconds between the last start and the reading')
    parser.add_argument('--also', metavar='DIR',
                        help='another checkout of buildout_script, measured the same way')
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory')
    args = parser.parse_args()
    args.counts = sorted(int(c) for c in args.counts.split(','))
    if args.rounds < 1 or not args.counts or args.counts[0] < 1:
        parser.error('--rounds and every count must be at least 1')
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    bench_control.ensure_venv()
    bench_control.compile_ours()
    if args.also:
        subprocess.run([str(VPY), '-m', 'compileall', '-q',
                        str(Path(args.also) / 'buildout_script')], check=True)
    work = Path(tempfile.mkdtemp(prefix='bench-memory-'))
    try:
        rivals, samples = bench(args, work)
    except KeyboardInterrupt:
        print('interrupted; every process the bench started has been stopped', file=sys.stderr)
        return 130
    except Failed as e:
        print('failed: %s' % e, file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print('kept: %s' % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(args, rivals, samples)
    return 0


if __name__ == '__main__':
    sys.exit(main())
