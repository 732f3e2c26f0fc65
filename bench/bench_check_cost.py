#!/usr/bin/env python3
"""What the fleet and the guards cost a healthy check and a status.

One running service (``/bin/sleep``, cron mode), and, side by side in
interleaved rounds, the wall time of:

  python -S -c pass         the interpreter's own start, the floor
  python -c pass            the same with site, as the commands start
  status                    ``python -m buildout_script.ctl ... status``
                            (it reads the family's memory since limits)
  check                     a healthy ``python -m buildout_script.check``
  check + metrics           the same writing its metrics file (``metrics``)
  check + memory-max        the same measuring the family's memory

Medians over ``--rounds`` (default 40) after two warm-up rounds, the
spread (min-max), and each row's difference to ``check`` and ratio to
``python -c pass``.  The commands run from this checkout with the
interpreter running the bench (PYTHONPATH set to it); everything is
stopped at the end.

    python3 bench/bench_check_cost.py [--rounds 40]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv, env):
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    spent = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit('%s: exit %d %s' % (' '.join(argv[:4]), done.returncode,
                                              done.stderr.decode()))
    return spent


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=40)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix='bench-check-cost-'))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    subprocess.run([sys.executable, '-m', 'compileall', '-q', str(REPO / 'buildout_script')],
                   check=True)
    py = sys.executable
    service = ['--name', 'svc', '--program', shutil.which('sleep') + ' 600',
               '--pid-dir', str(work / 'run'), '--log-dir', str(work / 'log')]
    ctl = [py, '-m', 'buildout_script.ctl'] + service
    check = [py, '-m', 'buildout_script.check'] + service
    rows = [
        ('python -S -c pass', [py, '-S', '-c', 'pass']),
        ('python -c pass', [py, '-c', 'pass']),
        ('status', ctl + ['status']),
        ('check', check),
        ('check + metrics', check + ['--metrics', str(work / 'metrics')]),
        ('check + memory-max', check + ['--memory-max', '1GB']),
    ]
    times = {label: [] for label, _ in rows}
    try:
        timed(ctl + ['start'], env)
        for round_ in range(args.rounds + 2):
            order = rows[round_ % len(rows):] + rows[:round_ % len(rows)]
            for label, argv in order:
                spent = timed(argv, env)
                if round_ >= 2:
                    times[label].append(spent)
    finally:
        subprocess.run(ctl + ['stop'], env=env, stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    print('load average: %s; %d rounds; Python %s' % (
        ' '.join(open('/proc/loadavg').read().split()[:3]), args.rounds,
        sys.version.split()[0]))
    floor = statistics.median(times['python -c pass'])
    base = statistics.median(times['check'])
    print('%-20s %10s %16s %12s %16s' % ('command', 'median ms', 'min-max ms',
                                         '- check ms', 'x python -c pass'))
    for label, _ in rows:
        values = times[label]
        median = statistics.median(values)
        print('%-20s %10.2f %16s %12s %16.2f' % (
            label, median * 1000, '%.1f-%.1f' % (min(values) * 1000, max(values) * 1000),
            '%+.2f' % ((median - base) * 1000) if label.startswith('check') else '',
            median / floor))


if __name__ == '__main__':
    main()
