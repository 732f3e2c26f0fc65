"""The command line shared by ctl and check: every service option as
``--option VALUE``, overriding what a generated script has rendered in;
the help, the usage line and the "did you mean" a person meets first.

argparse (and the ``re`` it pulls in), difflib and importlib.metadata are
loaded only when a command line asks for them (options, a mistake, --help,
--version); ``bin/webctl status`` never needs them.
"""

import os
import sys

from . import config

MANUAL = ('The manual: README.txt of the buildout_script distribution\n'
          '(also its description on the package index).')

# The metavar and help line of every service option, one place for ctl and check.
# Keys follow config.DEFAULTS; an option missing here still works, as VALUE.
OPTION_HELP = {
    'name': ('NAME', 'the service (required without a generated script)'),
    'program': ('COMMAND', 'the command line to run, split as a shell would'),
    'directory': ('DIR', 'the working directory of the program'),
    'pid-dir': ('DIR', 'where NAME.pid and the other state files are'),
    'log-dir': ('DIR', 'where NAME.log is appended to'),
    'stdout': ('FILE', 'the program\'s output, instead of LOG-DIR/NAME.log'),
    'stderr': ('FILE', 'the program\'s errors, instead of its output'),
    'environment': ('KEY=VALUE', 'environment lines for the program'),
    'environment-file': ('FILE', 'more KEY=VALUE lines, read at every start'),
    'umask': ('OCTAL', 'the umask of the program, such as 022'),
    'user': ('USER', 'the account to run the program as (when root)'),
    'start-timeout': ('SECONDS', 'how long start waits for READY'),
    'ready': ('PROBE', 'when start is done: tcp:HOST:PORT, http://URL,'
                       ' exec:COMMAND or alive:SECONDS'),
    'stop-signal': ('SIGNAL', 'what stop sends first, such as TERM'),
    'stop-timeout': ('SECONDS', 'how long stop waits before KILL'),
    'reload-signal': ('SIGNAL', 'what reload sends, such as HUP'),
    'check': ('PROBE', 'the health probe of the check: tcp:HOST:PORT,'
                       ' http://URL or exec:COMMAND'),
    'check-timeout': ('SECONDS', 'how long the health probe may take'),
    'check-failures': ('COUNT', 'failed probes in a row before the check restarts'),
    'supervise': ('BOOL', 'true: a keeper restarts it at once, keeps its logs'),
    'log-max-bytes': ('SIZE', 'supervised: rotate the log at SIZE (0: never)'),
    'log-backups': ('COUNT', 'supervised: rotated logs kept'),
    'watchdog-timeout': ('SECONDS', 'restart after SECONDS without WATCHDOG=1'),
    'listen': ('ADDRESSES', 'the keeper holds these sockets for the program:'
                            ' HOST:PORT, [IPV6]:PORT, unix:PATH'),
    'listen-mode': ('OCTAL', 'the mode of a unix: socket, such as 0660'),
    'restart-overlap': ('BOOL', 'with listen: start the new program before'
                                ' stopping the old'),
    'limits': ('LIMITS', 'resource limits such as nofile=65536 core=0 nproc=256:512'),
    'nice': ('N', 'the program\'s nice value, -20 to 19'),
    'oom-score-adjust': ('N', 'the program\'s oom_score_adj, -1000 to 1000'),
    'memory-max': ('SIZE', 'restart it once its memory (PSS) is over SIZE'),
    'memory-max-for': ('SECONDS', 'only once it stays over memory-max so long'),
    'metrics': ('DIR', 'its state for Prometheus\' textfile collector, in DIR'),
    'on-event': ('COMMAND', 'run COMMAND when it starts, exits, is restarted, gives'
                            ' up or runs again'),
    'on-event-timeout': ('SECONDS', 'kill an on-event command still running after'
                                    ' SECONDS'),
    'restart-limit': ('COUNT', 'restarts the check makes within RESTART-WINDOW'
                               ' before giving up'),
    'restart-window': ('SECONDS', 'the window RESTART-LIMIT counts in'),
    'restart-delay': ('SECONDS', 'the pause before the check restarts again'
                                 ' (doubling)'),
}


COLUMN = 26        # where help texts start, after the action or option they explain


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
    """A mistake on the command line; said as ``PROG: message``."""


class Usage(UsageError):
    """No command at all: the message is the whole usage line."""


def program_name(module):
    prog = os.path.basename(sys.argv[0])
    if prog in ('__main__.py', '-c', '') or prog.endswith('.py'):
        return 'python -m buildout_script.' + module
    return prog


def service_words(settings):
    """How the help names the service: its own name when rendered in."""
    if settings is None:
        return 'the service named by --name'
    return 'the `%s` service' % settings['name']


def unknown(kind, word, choices, listed=None):
    """A UsageError for a mistyped word, with the nearest choice suggested."""
    import difflib
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        hint = 'did you mean %r?' % close[0]
    elif listed:
        hint = 'expected one of %s' % listed
    else:
        hint = 'try --help'
    return UsageError('unknown %s %r; %s' % (kind, word, hint))


def describe(words, width=79):
    """Lines of ``  WORD  what it does``, each text wrapped in its own column."""
    import textwrap
    lines = []
    for word, text in words:
        head = '  %-23s ' % word
        if len(head) > COLUMN:
            lines.append('  ' + word)
            head = ' ' * COLUMN
        lines.append(textwrap.fill(text, width, initial_indent=head,
                                   subsequent_indent=' ' * COLUMN))
    return '\n'.join(lines)


def version():
    """The installed distribution's version (importlib.metadata is slow to
    import, so only --version pays for it)."""
    from importlib import metadata
    try:
        return metadata.version('buildout_script')
    except metadata.PackageNotFoundError:
        return 'unknown'


def parser(prog, usage, description, epilog=None, version_flags=('--version',)):
    """An argparse parser whose help is laid out for a person: the caller's
    own arguments and ``description`` (the actions) first, then the service
    options in a group of their own, then ``epilog`` and where the manual is.
    Nothing is abbreviated: ``--pid`` is a mistake, not ``--pid-dir``."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError('%s (try --help)' % message)

    class Version(argparse.Action):
        def __init__(self, option_strings, dest, **kw):
            super().__init__(option_strings, dest, nargs=0, help='print the version and exit')

        def __call__(self, parser, namespace, values, option_string=None):
            print('%s (buildout_script %s)' % (prog, version()))
            parser.exit()

    def formatter(prog):
        return argparse.RawDescriptionHelpFormatter(prog, max_help_position=COLUMN, width=79)

    p = Parser(prog=prog, usage=usage, description=description, add_help=False,
               allow_abbrev=False, formatter_class=formatter,
               epilog='\n'.join(filter(None, [epilog, MANUAL])))
    p.add_argument('-h', '--help', action='help', help='show this help and exit')
    p.add_argument(*version_flags, action=Version)
    overrides = p.add_argument_group("service settings (override the part's, for this"
                                     " run only)")
    for option in config.DEFAULTS:
        metavar, text = OPTION_HELP.get(option, ('VALUE', None))
        overrides.add_argument('--' + option, dest=option, metavar=metavar, help=text)
    return p


def parse(p, argv, settings):
    """(settings, namespace): rendered settings with the command line's
    options parsed over them.  Raises UsageError or SettingError."""
    ns, extras = p.parse_known_args(flags_spelled_out(argv))
    for word in extras:
        if word.startswith('-') and word != '-':
            option = word.split('=', 1)[0]
            raise unknown('option', option, [o for o in p._option_string_actions
                                             if o.startswith('--')])
    if extras:
        raise UsageError('unexpected %s (try --help)' % ' '.join(extras))
    given = {o: vars(ns)[o] for o in config.DEFAULTS if vars(ns)[o] is not None}
    if settings is None:
        if 'name' not in given:
            raise UsageError('--name is required (the service to act on)')
        settings = config.parse(given)
    elif given:
        settings = config.override(settings, given)
    return settings, ns
