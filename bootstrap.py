#!/usr/bin/env python3
"""Set up this buildout from nothing: ``python3 bootstrap.py``.

Standard library only.  Steps, each safe to repeat:

1. make a virtual environment ``.venv/`` beside this file with the Python
   that runs this script (reused when it already works);
2. ``pip install`` zc.buildout and what it runs on (pip, setuptools, wheel,
   packaging, platformdirs) into it, at the versions pinned in the
   ``[versions]`` section of ``buildout.cfg`` (``bin/buildout`` checks the
   same pins), using pip's own configuration for the package index;
3. ``.venv/bin/buildout bootstrap``, which writes ``bin/buildout``;
4. ``bin/buildout`` (extra arguments to this script are passed on to it,
   e.g. ``python3 bootstrap.py -N`` or ``python3 bootstrap.py -c other.cfg``).

Any failing step prints one line ``bootstrap.py: error: ...`` on stderr and
exits non-zero.
"""
import configparser
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, '.venv')
VENV_PYTHON = os.path.join(VENV, 'bin', 'python')
VENV_BUILDOUT = os.path.join(VENV, 'bin', 'buildout')
BIN_BUILDOUT = os.path.join(HERE, 'bin', 'buildout')
BUILDOUT_CFG = os.path.join(HERE, 'buildout.cfg')

# What goes into .venv/: zc.buildout and its own dependencies, pip first
# (installed on its own before the rest).
PROJECTS = ['pip', 'setuptools', 'wheel', 'packaging', 'platformdirs',
            'zc.buildout']


class StepFailed(Exception):
    pass


def say(message):
    print('bootstrap.py: ' + message, flush=True)


def run(step, argv, **kw):
    """Run argv (no shell); raise StepFailed naming the step on failure."""
    try:
        result = subprocess.run(argv, cwd=HERE, stdin=subprocess.DEVNULL, **kw)
    except OSError as e:
        raise StepFailed('%s: cannot run %s: %s' % (step, argv[0], e))
    if result.returncode != 0:
        raise StepFailed('%s failed (exit code %d): %s' % (
            step, result.returncode, ' '.join(argv)))
    return result


def pinned_versions():
    """{lower-case name: version} from [versions] of buildout.cfg, with
    [versions:pythonXY] (buildout's conditional section for Python X.Y)
    applied on top when XY is this Python."""
    config = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        config.read(BUILDOUT_CFG, encoding='utf-8')
    except configparser.Error as e:
        raise StepFailed('cannot read %s: %s' % (BUILDOUT_CFG, e))
    versions = {}
    here = 'versions:python%d%d' % sys.version_info[:2]
    for section in ('versions', here):
        if config.has_section(section):
            versions.update(config.items(section))
    return versions


def requirements():
    """``name==version`` for each of PROJECTS, as buildout.cfg pins them."""
    versions = pinned_versions()
    missing = [name for name in PROJECTS if name.lower() not in versions]
    if missing:
        raise StepFailed('%s: [versions] pins no version for %s'
                         % (BUILDOUT_CFG, ', '.join(missing)))
    return ['%s==%s' % (name, versions[name.lower()]) for name in PROJECTS]


def venv_works():
    if not os.path.exists(VENV_PYTHON):
        return False
    try:
        result = subprocess.run(
            [VENV_PYTHON, '-c',
             'import sys; print("%d.%d" % sys.version_info[:2])'],
            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError:
        return False
    want = '%d.%d' % sys.version_info[:2]
    return result.returncode == 0 and result.stdout.strip() == want


def make_venv():
    if venv_works():
        say('reusing virtual environment %s' % VENV)
        return
    say('creating virtual environment %s with %s' % (VENV, sys.executable))
    run('creating the virtual environment',
        [sys.executable, '-m', 'venv', '--clear', VENV])


def installed(requirements):
    """True when every requirement is already satisfied inside the venv."""
    check = (
        'import sys\n'
        'from importlib.metadata import version, PackageNotFoundError\n'
        'try:\n'
        '    from packaging.requirements import Requirement\n'
        'except ImportError:\n'
        '    from pip._vendor.packaging.requirements import Requirement\n'
        'for spec in sys.argv[1:]:\n'
        '    r = Requirement(spec)\n'
        '    try:\n'
        '        v = version(r.name)\n'
        '    except PackageNotFoundError:\n'
        '        sys.exit(1)\n'
        '    if not r.specifier.contains(v, prereleases=True):\n'
        '        sys.exit(1)\n'
    )
    result = subprocess.run(
        [VENV_PYTHON, '-c', check] + list(requirements),
        stdin=subprocess.DEVNULL, capture_output=True)
    return result.returncode == 0


def install_buildout():
    wanted = requirements()
    if installed(wanted):
        say('zc.buildout already installed in %s' % VENV)
        return
    pip = [VENV_PYTHON, '-m', 'pip', 'install', '--disable-pip-version-check']
    say('installing %s' % ', '.join(wanted))
    # pip first on its own, so the pinned pip installs the rest.
    run('installing pip in the virtual environment', pip + wanted[:1])
    run('installing zc.buildout', pip + wanted)


def main(argv):
    if sys.version_info < (3, 10):
        raise StepFailed('Python 3.10 or newer is needed, this is %s'
                         % sys.version.split()[0])
    started = time.monotonic()
    make_venv()
    install_buildout()
    say('writing bin/buildout')
    run('buildout bootstrap', [VENV_BUILDOUT, 'bootstrap'])
    say(' '.join(['running bin/buildout'] + list(argv)))
    run('bin/buildout', [BIN_BUILDOUT] + list(argv))
    say('done in %.0f s' % (time.monotonic() - started))


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except StepFailed as e:
        print('bootstrap.py: error: %s' % e, file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print('bootstrap.py: error: interrupted', file=sys.stderr, flush=True)
        sys.exit(130)
