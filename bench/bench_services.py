#!/usr/bin/env python3
"""What does `bin/services status` of 20 services cost, next to one `bin/NAMEctl status`?

Why this exists: the issue's promise is one process and one import for many
services, so `status` of 20 costs at most twice the status of one.  The
recipes write the scripts, so the bench runs what a buildout writes: an
untimed buildout (about a second) in a temporary directory, run by this
tree's own `bin/buildout` on a generated configuration that extends this
tree's buildout.cfg (its pinned [versions]) with 20 parts `recipe =
buildout_script:service` (`program = sleep 36NN`) and one part `recipe =
buildout_script:services`.  It downloads and builds nothing: it uses this
tree's develop egg and eggs as `python3 bootstrap.py` left them
(`develop-eggs-directory` and `eggs-directory` of the tree, `develop`
empty) and an empty package index, so a missing egg is an error.  The
scripts get the sys.path of the tree's own bin/democtl and run on the
Python of `bin/buildout` (the tree's .venv).  Then it starts the 20 `sleep`
programs with `bin/services start` (untimed) and times, round after round
in rotated order:

  * one   -- `bin/s01ctl status`
  * all20 -- `bin/services status` (20 lines)
  * loop  -- `bin/sNNctl status` for each of the 20, one process each (what a
             shell loop over the ctl scripts costs; for scale)

Wall-clock from Popen to wait, `time.perf_counter`, output to /dev/null.
Prints the medians and the ratio all20 / one.  The services are stopped with
`bin/services stop` and the temporary directory removed at the end.

Why not `develop = .` and `offline = true`: `develop` runs `pip install -e`
of the tree, which rebuilds the tree's build/ (under the feet of anything
running from it) and fetches setuptools for pip's isolated build; and
zc.buildout 6.0.1 in offline mode does not find the eggs it made from
wheels (`We don't have a distribution for psutil==...`).  `newest = false`,
every version pinned and an empty index: offline in effect.

Two checkouts side by side: ``--also DIR`` runs the same buildout with
another checkout's own `bin/buildout` (so `python3 bootstrap.py` must have
run there too; say a worktree of the commit before a change), starts its
services as well, and times its three commands in the same rounds, the
order of all six rotated; the report gives both medians and the
difference, this checkout's minus the other's.  ``--supervise`` gives
every part `supervise = true`, so the services are kept by the pid dir's
keeper (one for all, or one each before the one-keeper change).

Usage:  python3 bench/bench_services.py [--runs N] [--services N] [--supervise]
            [--also DIR]
"""

import argparse
import contextlib
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = """\
[buildout]
extends = %(repo)s/buildout.cfg
parts = %(parts)s
develop =
develop-eggs-directory = %(repo)s/develop-eggs
eggs-directory = %(repo)s/eggs
newest = false
index = %(index)s
find-links =
%(sections)s
[services]
recipe = buildout_script:services
"""

SERVICE = """
[%(name)s]
recipe = buildout_script:service
program = sleep %(seconds)d
supervise = %(supervise)s
"""


def write_scripts(directory, count, repo=REPO, supervise=False):
    """bin/sNNctl for each service and bin/services, written by the recipes
    of the checkout ``repo`` in a buildout run in ``directory``; (bin
    directory, service names)."""
    buildout = os.path.join(repo, 'bin', 'buildout')
    if not os.access(buildout, os.X_OK):
        raise SystemExit('%s not found: run python3 bootstrap.py there first' % buildout)
    names = ['s%02d' % i for i in range(1, count + 1)]
    index = os.path.join(directory, 'no-index')     # empty: nothing to download
    os.mkdir(index)
    config = os.path.join(directory, 'buildout.cfg')
    with open(config, 'w') as f:
        f.write(CONFIG % {
            'repo': repo, 'parts': ' '.join(names + ['services']),
            'index': pathlib.Path(index).as_uri(),
            'sections': ''.join(SERVICE % {'name': name, 'seconds': 3600 + i,
                                           'supervise': 'true' if supervise else 'false'}
                                for i, name in enumerate(names, 1))})
    # -U: no ~/.buildout/default.cfg (it could add extensions or a download cache).
    done = subprocess.run([buildout, '-U', '-c', config], cwd=directory,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout)
        raise SystemExit('bin/buildout exited %d (the tree needs python3 bootstrap.py'
                         ' and its eggs)' % done.returncode)
    return os.path.join(directory, 'bin'), names


def compile_tree(repo):
    """Byte-compile the checkout's package with the Python its scripts run
    on, so that PYTHONDONTWRITEBYTECODE (set on some machines) does not
    leave one tree to be compiled at every command and not the other."""
    python = os.path.join(repo, '.venv', 'bin', 'python')
    subprocess.run([python if os.access(python, os.X_OK) else sys.executable, '-m',
                    'compileall', '-q', os.path.join(repo, 'buildout_script')], check=True)


def timed(argvs):
    """Seconds to run the commands one after the other; each must exit 0."""
    started = time.perf_counter()
    for argv in argvs:
        code = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if code != 0:
            raise SystemExit('%s exited %d' % (' '.join(argv), code))
    return time.perf_counter() - started


def commands_of(bin_dir, names, suffix=''):
    """The three commands timed, by name (``suffix`` tells the checkouts apart)."""
    services = os.path.join(bin_dir, 'services')
    return {
        'one' + suffix: [[os.path.join(bin_dir, names[0] + 'ctl'), 'status']],
        'all%d%s' % (len(names), suffix): [[services, 'status']],
        'loop' + suffix: [[os.path.join(bin_dir, n + 'ctl'), 'status'] for n in names],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=15)
    parser.add_argument('--services', type=int, default=20)
    parser.add_argument('--supervise', action='store_true',
                        help='every service with supervise = true')
    parser.add_argument('--also', metavar='DIR',
                        help='another checkout (bootstrapped), timed in the same rounds')
    args = parser.parse_args()
    trees = [(REPO, '')]
    if args.also:
        trees.append((os.path.abspath(args.also), ' (%s)' % args.also))
    with contextlib.ExitStack() as stack:
        commands = {}
        for repo, suffix in trees:
            directory = stack.enter_context(
                tempfile.TemporaryDirectory(prefix='bench-services-'))
            compile_tree(repo)
            bin_dir, names = write_scripts(directory, args.services, repo, args.supervise)
            services = os.path.join(bin_dir, 'services')
            # Stopped at the end, also when a start fails half way.
            stack.callback(subprocess.call, [services, 'stop'], stdout=subprocess.DEVNULL)
            subprocess.check_call([services, 'start'], stdout=subprocess.DEVNULL)
            commands.update(commands_of(bin_dir, names, suffix))
        order = list(commands)
        for name in order:                      # warm-up, writes __pycache__
            timed(commands[name])
        times = {name: [] for name in order}
        for round_ in range(args.runs):
            shift = round_ % len(order)
            for name in order[shift:] + order[:shift]:
                times[name].append(timed(commands[name]))
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print('command:  %s %s' % (sys.executable, ' '.join(sys.argv)))
    print('python:   %s   nproc: %d   kernel: %s   load: %s' % (
        platform.python_version(), os.cpu_count(), platform.release(),
        ' '.join(open('/proc/loadavg').read().split()[:3])))
    print('runs:     %d rounds (+1 warm-up), order rotated per round%s' % (
        args.runs, '; supervise = true' if args.supervise else ''))
    print()
    print('median wall-clock ms')
    width = max(len(name) for name in order)
    print('%-*s %8s' % (width, 'command', 'ms'))
    for name in order:
        print('%-*s %8.1f' % (width, name, medians[name]))
    print()
    for _, suffix in trees:
        all_name = 'all%d%s' % (args.services, suffix)
        print('ratio %s / one%s: %.2fx (the promise: at most 2x)' % (
            all_name, suffix, medians[all_name] / medians['one' + suffix]))
        print('ratio loop%s / %s: %.2fx' % (suffix, all_name,
                                           medians['loop' + suffix] / medians[all_name]))
    if args.also:
        suffix = trees[1][1]
        print()
        print('this checkout - %s, ms:  %s' % (args.also, '   '.join(
            '%s %+.1f' % (name, medians[name] - medians[name + suffix])
            for name in ('one', 'all%d' % args.services, 'loop'))))


if __name__ == '__main__':
    main()
