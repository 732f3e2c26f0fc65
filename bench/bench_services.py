#!/usr/bin/env python3
"""What does `bin/services status` of 20 services cost, next to one `bin/NAMEctl status`?

Why this exists: the issue's promise is one process and one import for many
services, so `status` of 20 costs at most twice the status of one.  This
writes, in a temporary directory, 20 generated ctl scripts and one services
script exactly as the recipes render them (the bundled templates, settings as
Python literals, the repository on sys.path), starts 20 `sleep` programs
(untimed), then times, round after round in rotated order:

  * one   -- `bin/s01ctl status`
  * all20 -- `bin/services status` (20 lines)
  * loop  -- `bin/sNNctl status` for each of the 20, one process each (what a
             shell loop over the ctl scripts costs; for scale)

Wall-clock from Popen to wait, `time.perf_counter`, output to /dev/null.
Prints the medians and the ratio all20 / one.

Usage:  python3 bench/bench_services.py [--runs N] [--services N]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from buildout_script import config  # noqa: E402

TEMPLATES = os.path.join(REPO, 'templates', 'service')


def literal(settings, indent):
    return ''.join('%s%r: %r,\n' % (indent, k, v) for k, v in settings.items()).rstrip('\n')


def write_scripts(directory, count):
    """bin/sNNctl for each service and bin/services, as the recipes write them."""
    bin_dir = os.path.join(directory, 'bin')
    os.makedirs(bin_dir)
    path = '    %r,' % REPO
    all_settings = []
    for i in range(1, count + 1):
        name = 's%02d' % i
        settings = config.parse({'name': name, 'program': 'sleep %d' % (3600 + i),
                                 'directory': directory}, base=directory)
        all_settings.append(settings)
        with open(os.path.join(TEMPLATES, 'ctl')) as f:
            text = f.read() % {'python': sys.executable, 'script': 'bin/%sctl' % name,
                               'directory': directory,
                               'name': name, 'path': path,
                               'settings': literal(settings, '    ')}
        write(os.path.join(bin_dir, name + 'ctl'), text)
    with open(os.path.join(TEMPLATES, 'services')) as f:
        text = f.read() % {
            'python': sys.executable, 'script': 'bin/services',
            'names': ', '.join(s['name'] for s in all_settings), 'path': path,
            'services': '\n'.join('    {\n%s\n    },' % literal(s, '        ')
                                  for s in all_settings),
            'after': '\n'.join('    %r: [],' % s['name'] for s in all_settings)}
    write(os.path.join(bin_dir, 'services'), text)
    return bin_dir, [s['name'] for s in all_settings]


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)


def timed(argvs):
    """Seconds to run the commands one after the other; each must exit 0."""
    started = time.perf_counter()
    for argv in argvs:
        code = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if code != 0:
            raise SystemExit('%s exited %d' % (' '.join(argv), code))
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=15)
    parser.add_argument('--services', type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench-services-') as directory:
        bin_dir, names = write_scripts(directory, args.services)
        services = os.path.join(bin_dir, 'services')
        subprocess.check_call([services, 'start'], stdout=subprocess.DEVNULL)
        try:
            commands = {
                'one': [[os.path.join(bin_dir, names[0] + 'ctl'), 'status']],
                'all%d' % len(names): [[services, 'status']],
                'loop': [[os.path.join(bin_dir, n + 'ctl'), 'status'] for n in names],
            }
            order = list(commands)
            for name in order:                      # warm-up, writes __pycache__
                timed(commands[name])
            times = {name: [] for name in order}
            for round_ in range(args.runs):
                shift = round_ % len(order)
                for name in order[shift:] + order[:shift]:
                    times[name].append(timed(commands[name]))
        finally:
            subprocess.call([services, 'stop'], stdout=subprocess.DEVNULL)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print('command:  %s %s' % (sys.executable, ' '.join(sys.argv)))
    print('python:   %s   nproc: %d   kernel: %s' % (platform.python_version(),
                                                    os.cpu_count(), platform.release()))
    print('runs:     %d rounds (+1 warm-up), order rotated per round' % args.runs)
    print()
    print('median wall-clock ms')
    print('%-8s %8s' % ('command', 'ms'))
    for name in order:
        print('%-8s %8.1f' % (name, medians[name]))
    all_name = order[1]
    print()
    print('ratio %s / one: %.2fx (the promise: at most 2x)' % (
        all_name, medians[all_name] / medians['one']))
    print('ratio loop / %s: %.2fx' % (all_name, medians['loop'] / medians[all_name]))


if __name__ == '__main__':
    main()
