"""The command line shared by ctl and check: every service option as
``--option VALUE``, overriding what a generated script has rendered in.

argparse (and the ``re`` it pulls in, some 7 ms) is loaded only when the
command line has options; ``bin/webctl status`` never needs it.
"""

import os
import sys

from . import config


FLAGS = ('--supervise',)
WORDS = ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0')


def flags_spelled_out(argv):
    """``--supervise`` alone means ``--supervise=true`` (and never takes
    the next word, say an action, for its value)."""
    argv = list(argv)
    for i, word in enumerate(argv):
        if word in FLAGS and (i + 1 == len(argv) or argv[i + 1].lower() not in WORDS):
            argv[i] = word + '=true'
    return argv


class UsageError(Exception):
    pass


def program_name(module):
    prog = os.path.basename(sys.argv[0])
    if prog in ('__main__.py', '-c', '') or prog.endswith('.py'):
        return 'python -m buildout_script.' + module
    return prog


def parser(prog, description, epilog=None):
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError('%s (try --help)' % message)

    p = Parser(prog=prog, description=description, epilog=epilog)
    for option in config.DEFAULTS:
        p.add_argument('--' + option, dest=option, metavar='VALUE')
    return p


def parse(p, argv, settings):
    """(settings, namespace): rendered settings with the command line's
    options parsed over them.  Raises UsageError or SettingError."""
    ns = p.parse_args(flags_spelled_out(argv))
    given = {o: vars(ns)[o] for o in config.DEFAULTS if vars(ns)[o] is not None}
    if settings is None:
        if 'name' not in given:
            raise UsageError('--name is required (the service to act on)')
        settings = config.parse(given)
    elif given:
        settings = config.override(settings, given)
    return settings, ns
