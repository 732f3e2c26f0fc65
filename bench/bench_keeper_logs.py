#!/usr/bin/env python3
"""Many services' logs through one keeper: 20 programs each writing 2,000
lines a second, every log rotated by size many times; how many lines are
lost, duplicated or split, and what the writing costs the keeper, next to
supervisord doing the same.

Method.  Each rival keeps --services programs (default 20), each a small
Python writer (the one bench_logs.py uses) that waits for a "go" file,
then writes numbered lines (``line 00001234 xxx...``, 75 bytes) at a steady
--rate (default 2,000 a second) for --seconds (default 10), flushing every
100 lines, then sleeps:

  * ours -- supervised services in one pid dir, so one keeper writes every
    log, with ``log-max-bytes`` --max-bytes (default 64KB: a rotation every
    half second per service) and ``log-backups`` --backups (default 100),
    started with ``python -m buildout_script.ctl ... --supervise true
    --log-max-bytes ... --log-backups ... start`` from this checkout;
  * supervisord -- one supervisord, each program with ``stdout_logfile``,
    ``redirect_stderr``, ``stdout_logfile_maxbytes`` and
    ``stdout_logfile_backups`` the same sizes.

One rival at a time (the other is not started yet), round after round
(--rounds, default 2) in alternating order: its programs are started and
wait; the bench reads the CPU time of the managing process (ours: the
keeper; supervisord: its process; utime + stime in /proc/PID/stat), writes
the go file, waits until every byte has reached the logs (the files of
each service stop growing at the expected size, or 30 s past the end),
reads the CPU time again, and counts every line in every file of every
service (bench_logs.count): lost (a number missing), duplicated (a number
twice) and split (a piece of a line, a file that does not end a line).
The cost is the manager's CPU seconds per 1,000 lines over the whole
write; the figures are medians over the rounds, the counts sums.  Then
everything is stopped (also on Ctrl-C, SIGTERM or SIGHUP).  The rivals and
ours run on bench/.scratch/venv's Python (bench_control.py makes it; made
here if missing).

Usage:  python3 bench/bench_keeper_logs.py [--services 20] [--rate 2000]
            [--seconds 10] [--max-bytes 64KB] [--backups 100] [--rounds 2]
            [--only ours,supervisord]
"""

import argparse
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_control  # noqa: E402
import bench_logs  # noqa: E402
import bench_memory  # noqa: E402

VPY = bench_control.VPY
LINE_BYTES = 75

WRITER = r'''
import os, sys, time
rate, total, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.01)
out = sys.stdout
start = time.monotonic()
for i in range(total):
    out.write('line %08d %s\n' % (i, 'x' * 60))
    if i % 100 == 99:
        out.flush()
        ahead = start + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
out.flush()
time.sleep(100000)
'''


def parse_size(text):
    units = {'': 1, 'KB': 1024, 'MB': 1024 ** 2}
    word = text.strip().upper()
    digits = word.rstrip('KMB')
    return int(digits) * units[word[len(digits):]]


class Writers:
    """What both rivals run: the writer script and its arguments."""

    def setup_writers(self, args, go):
        self.writer = self.work / 'writer.py'
        self.writer.write_text(WRITER)
        self.go = go
        self.total = int(args.rate * args.seconds)
        self.rate = args.rate

    def program(self, i):
        return [str(VPY), str(self.writer), str(self.rate), str(self.total), str(self.go),
                '%s%03d' % (self.tag, i)]

    def programs(self, lines):
        lines = bench_memory.command_lines() if lines is None else lines
        return [pid for pid, argv in lines.items()
                if str(self.writer) in argv and argv[-1].startswith(self.tag)]

    def logs(self, i):
        return bench_logs.log_files(str(self.work / 'log' / ('s%03d.log' % i)))

    def clean_up(self):
        bench_memory.kill_pids(self.programs(None))


class Ours(Writers, bench_memory.Ours):

    def __init__(self, work, tag, args):
        bench_memory.Ours.__init__(self, work, tag, bench_control.REPO, 'ours', 4)
        self.options = ['--log-max-bytes', str(args.max_bytes),
                        '--log-backups', str(args.backups)]

    def clean_up(self):
        bench_memory.Ours.clean_up(self)
        Writers.clean_up(self)


class Supervisord(Writers, bench_memory.Supervisord):

    def __init__(self, work, tag, args):
        bench_memory.Supervisord.__init__(self, work, tag)
        self.program_options = ('stdout_logfile_maxbytes = %d\nstdout_logfile_backups = %d\n'
                                % (args.max_bytes, args.backups))

    def clean_up(self):
        bench_memory.Supervisord.clean_up(self)
        Writers.clean_up(self)


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    return total


def written(rival, count):
    """Bytes in every log file of every service."""
    return sum(os.path.getsize(path) for i in range(1, count + 1)
               for path in rival.logs(i) if os.path.exists(path))


def run_one(rival, args):
    """(CPU seconds, lines, lost, duplicated, split, files, seconds to write)."""
    rival.work.mkdir(parents=True)
    rival.setup_writers(args, rival.work / 'go')
    try:
        rival.start(args.services)
        managers = rival.managers(bench_memory.command_lines())
        if not managers:
            raise bench_memory.Failed('%s: no managing process found' % rival.label)
        cpu0 = cpu_seconds(managers)
        began = time.monotonic()
        rival.go.touch()
        expected = rival.total * LINE_BYTES * args.services
        deadline = began + args.seconds + 30
        last, still = -1, 0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            size = written(rival, args.services)
            still = still + 1 if size == last else 0
            last = size
            if size >= expected and still >= 1:
                break
        took = time.monotonic() - began
        cpu = cpu_seconds(managers) - cpu0
        lost = duplicated = split = files = 0
        for i in range(1, args.services + 1):
            counts = bench_logs.count(rival.logs(i), rival.total)
            lost += counts[0]
            duplicated += counts[1]
            split += counts[2]
            files += counts[3]
        return cpu, rival.total * args.services, lost, duplicated, split, files, took
    finally:
        try:
            rival.stop()
        finally:
            rival.clean_up()
            shutil.rmtree(rival.work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--services', type=int, default=20)
    p.add_argument('--rate', type=int, default=2000, help='lines per second per service')
    p.add_argument('--seconds', type=float, default=10)
    p.add_argument('--max-bytes', default='64KB', help='size that rotates a log')
    p.add_argument('--backups', type=int, default=100, help='rotated files kept')
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--only', help='comma list of ours,supervisord')
    args = p.parse_args()
    args.max_bytes = parse_size(args.max_bytes)
    needed = math.ceil(args.rate * args.seconds * LINE_BYTES / args.max_bytes) + 1
    if needed > args.backups:
        p.error('--backups %d keeps too few files: each log fills %d'
                % (args.backups, needed))
    chosen = args.only.split(',') if args.only else ['ours', 'supervisord']
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    bench_control.ensure_venv()
    bench_control.compile_ours()
    work = Path(tempfile.mkdtemp(prefix='bench-keeper-logs-'))
    tag = '6%04d.' % (os.getpid() % 10000)
    makers = {'ours': Ours, 'supervisord': Supervisord}
    results = {name: [] for name in chosen}
    try:
        for round_no in range(args.rounds):
            order = chosen if round_no % 2 == 0 else chosen[::-1]
            for name in order:
                rival = makers[name](work / ('%s%d' % (name, round_no)),
                                     tag + str(chosen.index(name)), args)
                results[name].append(run_one(rival, args))
                print('round %d/%d, %s: done' % (round_no + 1, args.rounds, name),
                      file=sys.stderr)
    except KeyboardInterrupt:
        print('interrupted; stopping everything started', file=sys.stderr)
        return 130
    except bench_memory.Failed as e:
        print('failed: %s' % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('command: %s' % ' '.join([sys.executable] + sys.argv))
    print('%d services x %d lines/s for %gs each; rotated at %d bytes, %d backups;'
          ' %d rounds; load %s' % (args.services, args.rate, args.seconds, args.max_bytes,
                                   args.backups, args.rounds,
                                   ' '.join(open('/proc/loadavg').read().split()[:3])))
    print('%-12s %9s %6s %11s %6s %6s %12s %14s' % (
        'rival', 'lines', 'lost', 'duplicated', 'split', 'files', 'CPU s', 'CPU ms/1000'))
    per_thousand = {}
    for name, rows in results.items():
        cpu = statistics.median(r[0] for r in rows)
        lines = rows[0][1]
        per_thousand[name] = cpu / (lines / 1000) * 1000
        print('%-12s %9d %6d %11d %6d %6d %12.2f %14.3f' % (
            name, sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows),
            sum(r[4] for r in rows), statistics.median(r[5] for r in rows), cpu,
            per_thousand[name]))
    print('(lines, lost, duplicated, split: sums over the rounds; files, CPU: medians;'
          ' CPU of the managing process only)')
    if len(per_thousand) == 2:
        print('ratio of CPU per 1000 lines, ours / supervisord: %.2fx' % (
            per_thousand['ours'] / per_thousand['supervisord']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
