#!/usr/bin/env python3
"""What the fleet and the guards cost a healthy check and a status.

One running service (``/bin/sleep``, cron mode), and, side by side in
interleaved rounds, the wall time of:

  python -S -c pass         the interpreter's own start, the floor
  python -c pass            the same with site, as the commands start
  status                    ``NAMEctl status`` (it reads the family's
                            memory since limits)
  check                     a healthy ``NAME-check``, as cron runs it
  check + metrics           the same writing its metrics file (``metrics``)
  check + memory-max        the same measuring the family's memory

Medians over ``--rounds`` (default 40) after two warm-up rounds, the
spread (min-max), and each row's difference to ``check`` and ratio to
``python -c pass``.  ctl and the checks are scripts shaped as the recipe
writes them (the settings as a literal, then ``main()``), run from this
checkout, byte-compiled, on the interpreter that runs the bench: run it
with the buildout's own (``.venv/bin/python``) to time what ``bin/``
runs.  Everything is stopped at the end.

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


def script(path, command, **options):
    """``path``: a script as the recipe writes it, for this checkout's
    ``buildout_script.COMMAND`` with these service options."""
    sys.path.insert(0, str(REPO))
    from buildout_script.config import parse
    settings = parse({key.replace('_', '-'): value for key, value in options.items()})
    path.write_text('#!%s\nimport sys\nsys.path[0:0] = [%r]\nsettings = %r\n'
                    'from buildout_script.%s import main\nsys.exit(main(sys.argv[1:], settings))\n'
                    % (sys.executable, str(REPO), settings, command))
    path.chmod(0o755)
    return [str(path)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=40)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix='bench-check-cost-'))
    env = dict(os.environ)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    env.pop('PYTHONPATH', None)
    subprocess.run([sys.executable, '-m', 'compileall', '-q', str(REPO / 'buildout_script')],
                   check=True)
    py = sys.executable
    service = dict(name='svc', program=shutil.which('sleep') + ' 600',
                   pid_dir=str(work / 'run'), log_dir=str(work / 'log'))
    ctl = script(work / 'svcctl', 'ctl', **service)
    rows = [
        ('python -S -c pass', [py, '-S', '-c', 'pass']),
        ('python -c pass', [py, '-c', 'pass']),
        ('status', ctl + ['status']),
        ('check', script(work / 'svc-check', 'check', **service)),
        ('check + metrics', script(work / 'svc-check-metrics', 'check',
                                   metrics=str(work / 'metrics'), **service)),
        ('check + memory-max', script(work / 'svc-check-memory', 'check',
                                      memory_max='1GB', **service)),
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
