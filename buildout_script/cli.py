"""The command line shared by ctl and check: every service option as
``--option VALUE``, overriding what a generated script has rendered in.

argparse (and the ``re`` it pulls in, some 7 ms) is loaded only when the
command line has options; ``bin/webctl status`` never needs it.
"""

import os
import sys

from . import config


FLAGS = ('supervise',)


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
        if option in FLAGS:         # --supervise alone means true
            p.add_argument('--' + option, dest=option, metavar='VALUE', nargs='?',
                           const='true')
        else:
            p.add_argument('--' + option, dest=option, metavar='VALUE')
    return p


def parse(p, argv, settings):
    """(settings, namespace): rendered settings with the command line's
    options parsed over them.  Raises UsageError or SettingError."""
    ns = p.parse_args(argv)
    given = {o: vars(ns)[o] for o in config.DEFAULTS if vars(ns)[o] is not None}
    if settings is None:
        if 'name' not in given:
            raise UsageError('--name is required (the service to act on)')
        settings = config.parse(given)
    elif given:
        settings = config.override(settings, given)
    return settings, ns
