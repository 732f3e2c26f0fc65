"""bin/NAMEctl: start, stop and ask about one service, with LSB exit codes.

A generated script calls ``main(sys.argv[1:], settings)`` with the part's
settings rendered into it; ``python -m buildout_script.ctl`` takes every
option on the command line (``--name web --program '...' start``).  Options
given on the command line override the rendered ones.
"""

import sys

from . import cli
from . import lifecycle
from . import modes
from . import config
from .lifecycle import Outcome
from .servicefiles import StateError

ACTIONS = ('start', 'stop', 'restart', 'try-restart', 'reload', 'force-reload',
           'status', 'pid', 'kill', 'foreground', 'spawn', 'reopen-logs', 'log')


def main(argv=None, settings=None):
    prog = cli.program_name('ctl')
    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):     # a path that is not UTF-8
        getattr(stream, 'reconfigure', lambda **kw: None)(errors='backslashreplace')
    as_json = '--json' in argv and 'status' in argv
    try:
        settings, action, args, as_json = parse_args(argv, settings, prog)
    except cli.UsageError as e:
        message = str(e) if isinstance(e, cli.Usage) else '%s: %s' % (prog, e)
        return fail(settings, as_json, lifecycle.BAD_ARGS, message)
    except config.SettingError as e:
        return fail(settings, as_json, lifecycle.BAD_ARGS,
                    '%s: --%s: %s' % (prog, e.option, e.message))
    as_json = as_json and action == 'status'
    if action not in ('status', 'pid', 'spawn'):
        interrupt_on_signals()
    try:
        return run(action, settings, args, as_json)
    except StateError as e:
        if e.permission:
            code = lifecycle.NO_PRIVILEGE
        elif action in ('status', 'pid', 'kill', 'reload'):
            code = lifecycle.STATUS_UNKNOWN      # as status says: we cannot tell
        else:
            code = lifecycle.NOT_CONFIGURED if e.configuration else lifecycle.FAILED
        return fail(settings, as_json, code, '%s: %s' % (settings['name'], e))
    except PermissionError as e:
        what = 'on %s' % e.filename if e.filename else 'to signal its processes'
        return fail(settings, as_json, lifecycle.NO_PRIVILEGE,
                    '%s: permission denied %s (run as the user that owns the service, or'
                    ' as root)' % (settings['name'], what))
    except KeyboardInterrupt:
        return fail(settings, as_json, lifecycle.FAILED, '%s: interrupted' % settings['name'])


def fail(settings, as_json, code, message):
    """Say an error: one line on stderr, or for ``status --json`` as JSON."""
    if as_json:
        import json
        print(json.dumps({'name': settings['name'] if settings else None, 'state': 'unknown',
                          'pid': None, 'uptime': None, 'code': code, 'error': message}))
    else:
        print(message, file=sys.stderr)
    return code


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP to ctl: cleaned up after as Ctrl-C is."""


def interrupt_on_signals():
    """A signal ignored when ctl began stays ignored: ``nohup bin/NAMEctl
    start`` asked for hangups to pass (as Python leaves an ignored SIGINT)."""
    import signal

    def interrupt(signum, frame):
        raise Interrupted()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, interrupt)


def parse_args(argv, settings, prog):
    """(settings, action, action arguments, --json) from the command line.

    A generated script's plain ``ACTION [ARG ...]`` (and a mistyped action)
    is read without argparse: ``status`` stays as fast as it can be."""
    words = [a for a in argv if a != '--json']
    if settings is not None and words and not any(
            w.startswith('--') or w == '-h' for w in words):
        if words[0] in ACTIONS:
            return settings, words[0], words[1:], len(words) < len(argv)
        if not words[0].startswith('-'):
            raise cli.unknown('action', words[0], ACTIONS, ', '.join(ACTIONS))
    if not argv:
        raise cli.Usage(usage(prog, settings, ' (--help says more)'))
    tail = []
    if 'log' in argv:                   # its -n N and -f are its own
        at = argv.index('log') + 1
        argv, tail = argv[:at], argv[at:]
    import argparse
    p = cli.parser(prog, usage(prog, settings)[len('usage: '):], help_text(prog, settings),
                   EXIT_CODES)
    p.add_argument('--json', action='store_true', help='status: print it as JSON')
    p.add_argument('action', nargs='?', help=argparse.SUPPRESS)
    p.add_argument('args', nargs='*', help=argparse.SUPPRESS)
    settings, ns = cli.parse(p, argv, settings)
    if ns.action is None:
        raise cli.Usage(usage(prog, settings, ' (--help says more)'))
    if ns.action not in ACTIONS:
        raise cli.unknown('action', ns.action, ACTIONS, ', '.join(ACTIONS))
    return settings, ns.action, ns.args + tail, ns.json


# What --help says of each action: (its arguments, what it does), one line each.
ACTION_HELP = {
    'start': ('', 'start it unless it runs; wait until it is ready'),
    'stop': ('', 'stop it and whatever it left behind'),
    'restart': ('', 'stop it, then start it'),
    'try-restart': ('', 'restart it if it runs; if not, do nothing'),
    'reload': ('', 'send it its reload-signal (exit 3: none is set)'),
    'force-reload': ('', 'reload if a reload-signal is set, else try-restart'),
    'status': ('', 'say whether it runs: exit 0 running, 1 dead but PID file'
                   ' exists, 3 not running, 4 unknown'),
    'pid': ('', 'print its PID; the exit codes of status'),
    'kill': ('SIGNAL', 'send SIGNAL to the program (exit 7: not running)'),
    'foreground': ('', 'run it attached to this terminal, for debugging'),
    'spawn': ('SECONDS [ARG ...]', 'run an extra, untracked copy, stopped after'
                                   ' SECONDS'),
    'reopen-logs': ('', 'supervised: reopen the logs (for logrotate create)'),
    'log': ('[-n N] [-f]', 'print the last N lines of the log (10); -f: follow it'),
}

EXIT_CODES = ('Exit codes (LSB init scripts): 0 done, 1 failed, 2 bad arguments,\n'
              '3 unimplemented, 4 insufficient privilege, 5 program not installed,\n'
              '6 not configured, 7 not running; status has its own, above.')


def usage(prog, settings, tail=''):
    """The one usage line, naming every action."""
    name = '--name NAME ' if settings is None else ''
    return 'usage: %s %s[--OPTION VALUE ...] {%s} [ARG ...]%s' % (
        prog, name, ','.join(ACTIONS), tail)


def help_text(prog, settings):
    """The top of --help: what this command is for, then its actions."""
    actions = []
    for action in ACTIONS:
        args, text = ACTION_HELP.get(action, ('', ''))
        actions.append(((action + ' ' + args).strip(), text))
    return '%s: control %s, with the exit codes of LSB init scripts.\n\nactions:\n%s' % (
        prog, cli.service_words(settings), cli.describe(actions))


def run(action, settings, args, as_json=False):
    if action == 'status' and not args:
        return report_status(settings, as_json)
    if action == 'log':
        return show_log(settings, args)
    if action in ('kill', 'spawn'):
        if not args:
            raise_usage = 'SIGNAL' if action == 'kill' else 'SECONDS (a timeout)'
            return say(Outcome(lifecycle.BAD_ARGS, '%s: %s needs %s'
                               % (settings['name'], action, raise_usage)))
    elif args:
        return say(Outcome(lifecycle.BAD_ARGS, '%s: %s takes no arguments (got %s)'
                           % (settings['name'], action, ' '.join(args))))
    return say(ACTION_FUNCTIONS[action](settings, args))


def say(outcome):
    if outcome.message:
        print(outcome.message, file=sys.stdout if outcome.code == 0 else sys.stderr)
    return outcome.code


def report_status(settings, as_json):
    st = modes.status(settings)
    if as_json:
        import json
        report = {'name': settings['name'], 'state': st.state, 'pid': st.pid,
                  'uptime': None if st.uptime is None else round(st.uptime, 3),
                  'memory': st.memory, 'code': st.code, 'changed': st.changed}
        if settings.get('supervise'):
            report.update(kept_fields(st))
        print(json.dumps(report))
    else:
        print(st.message)
    return st.code


def kept_fields(st):
    """What status --json adds for a supervised service."""
    record = st.record
    return {'keeper': st.keeper, 'supervised': st.keeper is not None,
            'keeper-state': record['state'] if st.keeper else None,
            'want': record['want'] if st.keeper else None,
            'restarts': record.get('restarts', 0),
            'last-exit': record['last-exit'], 'status-text': record['status'],
            'adopted': bool(record['adopted'])}


def do_start(settings, args):
    """A person's start: it also ends the watchdog's give-up (see check)."""
    with lifecycle.locked(settings) as files:
        files.clear_restarts()
        outcome = modes.start(settings, files)
    if outcome.code == 0 and outcome.pid and settings.get('on-event') \
            and not settings.get('supervise'):      # a keeper says it itself
        from . import events
        events.fire(settings, 'started', pid=outcome.pid)
    return outcome


def do_stop(settings, args):
    with lifecycle.locked(settings) as files:
        return modes.stop(settings, files)


def do_restart(settings, args, only_if_running=False):
    with lifecycle.locked(settings) as files:
        return modes.restart(settings, files, only_if_running)


def do_try_restart(settings, args):
    return do_restart(settings, args, only_if_running=True)


def do_reload(settings, args):
    if not settings['reload-signal']:
        return Outcome(lifecycle.UNIMPLEMENTED, '%s: reload is not configured (set'
                       ' reload-signal); use restart' % settings['name'])
    if settings.get('supervise') and settings['ready'] == 'notify':
        from . import supervision           # waits for RELOADING=1 ... READY=1
        return supervision.reload(settings)
    return modes.send_signal(settings, settings['reload-signal'], 'reloaded')


def do_force_reload(settings, args):
    """reload if it can, else restart, and in both cases only if running."""
    if settings['reload-signal']:
        return do_reload(settings, args)
    return do_try_restart(settings, args)


def do_kill(settings, args):
    try:
        name = config.parse_signal('kill', args[0])
    except config.SettingError as e:
        return Outcome(lifecycle.BAD_ARGS, '%s: %s' % (settings['name'], e.message))
    if len(args) > 1:
        return Outcome(lifecycle.BAD_ARGS, '%s: kill takes one signal' % settings['name'])
    return modes.send_signal(settings, name, 'sent %s' % name)


def do_pid(settings, args):
    st = modes.status(settings)
    if st.code == 0:
        return Outcome(lifecycle.SUCCESS, '%d' % st.pid)
    return Outcome(st.code, st.message)


def do_foreground(settings, args):
    return lifecycle.foreground(settings)


def do_spawn(settings, args):
    """An extra, untracked instance: it gets no PID file, so it must carry
    a timeout after which it is stopped like the service would be."""
    try:
        timeout = config.parse_seconds('spawn', args[0])
    except config.SettingError:
        return Outcome(lifecycle.BAD_ARGS, '%s: spawn needs a timeout in seconds first,'
                       ' got %r' % (settings['name'], args[0]))
    from . import spawn                 # not on the path of status
    return spawn.spawn(settings, timeout, args[1:])


def do_reopen_logs(settings, args):
    """For logrotate's ``create`` mode (postrotate): the keeper goes on in
    a new file at the next line end.  In cron mode the program holds its
    log itself: use copytruncate, or restart."""
    if not settings.get('supervise'):
        return Outcome(lifecycle.UNIMPLEMENTED, '%s: reopen-logs needs supervise = true;'
                       ' the program writes its log itself (use logrotate\'s copytruncate,'
                       ' or create with postrotate ctl restart)' % settings['name'])
    from . import supervision
    return supervision.reopen_logs(settings, lifecycle.files_of(settings))


def show_log(settings, args):
    """``log [-n N] [-f]``: the last lines of the log, then (with -f) what
    follows, across rotations, until interrupted."""
    from . import logtail
    try:
        lines, follow = logtail.parse_args(args)
    except ValueError as e:
        return say(Outcome(lifecycle.BAD_ARGS, '%s: %s' % (settings['name'], e)))
    from . import logfiles
    return logtail.show(logfiles.paths(settings)[0], lines, follow)


ACTION_FUNCTIONS = {
    'start': do_start, 'stop': do_stop, 'restart': do_restart, 'try-restart': do_try_restart,
    'reload': do_reload, 'force-reload': do_force_reload, 'kill': do_kill, 'pid': do_pid,
    'foreground': do_foreground, 'spawn': do_spawn, 'reopen-logs': do_reopen_logs,
}


if __name__ == '__main__':
    sys.exit(main())
