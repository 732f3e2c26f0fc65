#!/usr/bin/env python3
"""Log rotation under a writer at 20,000 lines/s: how many lines are lost,
duplicated or split between files?

Each scenario runs a service from this checkout whose program writes
numbered lines (``line 00001234 xxx...``) at a steady --rate for --seconds,
while the log is rotated, then counts every line in every file:

  keeper+logrotate-create  supervise = true; the real logrotate every
                           --every seconds with ``create`` and
                           ``postrotate bin/NAMEctl reopen-logs``
  keeper+size              supervise = true; the keeper's own rotation at
                           log-max-bytes (1MB here), log-backups 1000
  cron+copytruncate        the cron mode (the program holds NAME.log); the
                           real logrotate with ``copytruncate``: the lines
                           written between its copy and its truncate are lost
  cron+create              the cron mode with ``create`` and no restart: every
                           later line goes to the renamed file (none to the
                           new one), which is what the count of lines in the
                           fresh NAME.log shows

Usage:  python3 bench/bench_logs.py [--rate 20000] [--seconds 10] [--every 1]
Needs logrotate (Debian: apt-get install logrotate); scenarios that need it
are skipped, with the reason, when it is missing.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(rb'^line (\d{8}) x{60}$')

WRITER = r'''
import sys, time
rate, total = int(sys.argv[1]), int(sys.argv[2])
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


def count(paths, total):
    """(lost, duplicated, split, files): split counts malformed pieces."""
    seen = {}
    split = 0
    for path in paths:
        with open(path, 'rb') as f:
            data = f.read()
        if data and not data.endswith(b'\n'):
            split += 1
        for line in data.split(b'\n'):
            if not line or b'keeper[' in line:
                continue
            m = LINE.match(line)
            if not m:
                split += 1
                continue
            n = int(m.group(1))
            seen[n] = seen.get(n, 0) + 1
    lost = sum(1 for n in range(total) if n not in seen)
    duplicated = sum(c - 1 for c in seen.values())
    return lost, duplicated, split, len(paths)


def log_files(log):
    d, name = os.path.split(log)
    return [os.path.join(d, f) for f in os.listdir(d) if f == name or f.startswith(name + '.')]


def run(scenario, args, work):
    here = os.path.join(work, scenario)
    os.makedirs(here)
    writer = os.path.join(here, 'writer.py')
    with open(writer, 'w') as f:
        f.write(WRITER)
    total = int(args.rate * args.seconds)
    log = os.path.join(here, 'log', 'w.log')
    ctl = [sys.executable, '-m', 'buildout_script.ctl', '--name', 'w', '--program',
           '%s %s %d %d' % (sys.executable, writer, args.rate, total),
           '--pid-dir', here + '/run', '--log-dir', here + '/log']
    kept = scenario.startswith('keeper')
    if kept:
        ctl += ['--supervise', '--log-max-bytes',
                '1MB' if scenario == 'keeper+size' else '0', '--log-backups', '1000']
    env = dict(os.environ, PYTHONPATH=ROOT)
    wrapper = os.path.join(here, 'ctl.sh')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' % (
            ROOT, ' '.join("'%s'" % a for a in ctl)))
    os.chmod(wrapper, 0o755)
    conf = os.path.join(here, 'logrotate.conf')
    mode = {'keeper+logrotate-create': 'create\n  postrotate\n    %s reopen-logs\n'
                                       '  endscript' % wrapper,
            'cron+copytruncate': 'copytruncate', 'cron+create': 'create'}.get(scenario)
    with open(conf, 'w') as f:
        f.write('%s {\n  rotate 1000\n  %s\n}\n' % (log, mode))
    done = subprocess.run(ctl + ['start'], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit('%s: start failed: %s%s' % (scenario, done.stdout, done.stderr))
    rotations = 0
    try:
        began = time.monotonic()
        while time.monotonic() - began < args.seconds + 0.5:
            time.sleep(args.every)
            if mode:
                subprocess.run(['logrotate', '-f', '-s', os.path.join(here, 'state'), conf],
                               env=env, check=True, capture_output=True)
                rotations += 1
        # let the writer finish, and the keeper write what it has read
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lost = count(log_files(log), total)[0]
            if not lost:
                break
            time.sleep(0.5)
    finally:
        subprocess.run(ctl + ['stop'], env=env, capture_output=True)
    if scenario == 'keeper+size':
        rotations = len(log_files(log)) - 1
    lost, duplicated, split, files = count(log_files(log), total)
    fresh = count([log], total)
    note = ''
    if scenario == 'cron+create':
        note = '(the new %s got %d lines)' % (os.path.basename(log), total - fresh[0])
    return total, rotations, lost, duplicated, split, files, note


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rate', type=int, default=20000, help='lines per second')
    p.add_argument('--seconds', type=float, default=10)
    p.add_argument('--every', type=float, default=1, help='seconds between logrotate runs')
    p.add_argument('--only', help='comma list of scenarios')
    args = p.parse_args()
    scenarios = ['keeper+logrotate-create', 'keeper+size', 'cron+copytruncate', 'cron+create']
    if args.only:
        scenarios = [s for s in scenarios if s in args.only.split(',')]
    work = tempfile.mkdtemp(prefix='bench-logs-')
    print('%d lines/s for %gs; logrotate every %gs (%s)' % (
        args.rate, args.seconds, args.every, shutil.which('logrotate') or 'not installed'))
    print('%-24s %8s %9s %6s %11s %6s %6s' % ('scenario', 'lines', 'rotations', 'lost',
                                             'duplicated', 'split', 'files'))
    try:
        for scenario in scenarios:
            if scenario != 'keeper+size' and not shutil.which('logrotate'):
                print('%-24s skipped: logrotate is not installed' % scenario)
                continue
            total, rotations, lost, dup, split, files, note = run(scenario, args, work)
            print('%-24s %8d %9d %6d %11d %6d %6d %s' % (
                scenario, total, rotations, lost, dup, split, files, note))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
