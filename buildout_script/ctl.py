"""bin/NAMEctl: start, stop and ask about one service, with LSB exit codes.

A generated script calls ``main(sys.argv[1:], settings)`` with the part's
settings rendered into it; ``python -m buildout_script.ctl`` takes every
option on the command line (``--name web --program '...' start``).  Options
given on the command line override the rendered ones.
"""

import os
import sys

from . import cli
from . import control
from . import settings as config
from .control import Outcome
from .state import StateError

ACTIONS = ('start', 'stop', 'restart', 'try-restart', 'reload', 'force-reload',
           'status', 'pid', 'kill', 'foreground', 'spawn')


def main(argv=None, settings=None):
    prog = cli.program_name('ctl')
    try:
        settings, action, args, as_json = parse_args(
            sys.argv[1:] if argv is None else argv, settings, prog)
    except cli.UsageError as e:
        print('%s: %s' % (prog, e), file=sys.stderr)
        return control.BAD_ARGS
    except config.SettingError as e:
        print('%s: --%s: %s' % (prog, e.option, e.message), file=sys.stderr)
        return control.BAD_ARGS
    try:
        return run(action, settings, args, as_json)
    except StateError as e:
        print('%s: %s' % (settings['name'], e), file=sys.stderr)
        if e.permission:
            return control.NO_PRIVILEGE
        if action == 'status':
            return control.STATUS_UNKNOWN
        return control.NOT_CONFIGURED if e.configuration else control.FAILED
    except PermissionError as e:
        what = 'on %s' % e.filename if e.filename else 'to signal its processes'
        print('%s: permission denied %s (run as the user that owns the service, or as'
              ' root)' % (settings['name'], what), file=sys.stderr)
        return control.NO_PRIVILEGE
    except KeyboardInterrupt:
        print('%s: interrupted' % settings['name'], file=sys.stderr)
        return control.FAILED


def parse_args(argv, settings, prog):
    """(settings, action, action arguments, --json) from the command line."""
    words = [a for a in argv if a != '--json']
    if settings is not None and words and words[0] in ACTIONS and not any(
            w.startswith('--') for w in words):
        return settings, words[0], words[1:], len(words) < len(argv)
    p = cli.parser(prog, __doc__.split('\n')[0], 'actions: ' + ', '.join(ACTIONS))
    p.add_argument('--json', action='store_true', help='status as JSON')
    p.add_argument('action', choices=ACTIONS, metavar='ACTION')
    p.add_argument('args', nargs='*', metavar='ARG')
    settings, ns = cli.parse(p, argv, settings)
    return settings, ns.action, ns.args, ns.json


def run(action, settings, args, as_json=False):
    if action == 'status' and not args:
        return report_status(settings, as_json)
    if action in ('kill', 'spawn'):
        if not args:
            raise_usage = 'SIGNAL' if action == 'kill' else 'SECONDS (a timeout)'
            return say(Outcome(control.BAD_ARGS, '%s: %s needs %s'
                               % (settings['name'], action, raise_usage)))
    elif args:
        return say(Outcome(control.BAD_ARGS, '%s: %s takes no arguments (got %s)'
                           % (settings['name'], action, ' '.join(args))))
    return say(ACTION_FUNCTIONS[action](settings, args))


def say(outcome):
    if outcome.message:
        print(outcome.message, file=sys.stdout if outcome.code == 0 else sys.stderr)
    return outcome.code


def report_status(settings, as_json):
    st = control.status(settings)
    if as_json:
        import json
        print(json.dumps({'name': settings['name'], 'state': st.state, 'pid': st.pid,
                          'uptime': None if st.uptime is None else round(st.uptime, 3),
                          'code': st.code}))
    else:
        print(st.message)
    return st.code


def start(settings, args):
    """A person's start: it also ends the watchdog's give-up (see check)."""
    files = control.files_of(settings)
    files.prepare()
    with files.lock():
        files.clear_restarts()
        return control.start(settings, files)


def stop(settings, args):
    files = control.files_of(settings)
    files.prepare()
    with files.lock():
        return control.stop(settings, files)


def restart(settings, args, only_if_running=False):
    files = control.files_of(settings)
    files.prepare()
    with files.lock():
        if only_if_running and control.status(settings, files).code != 0:
            return Outcome(control.SUCCESS, '%s is not running; not restarted'
                           % settings['name'])
        files.clear_restarts()
        stopped = control.stop(settings, files, on_purpose=False)
        if stopped.code != 0:
            return stopped
        started = control.start(settings, files)
        if started.code == 0 and stopped.pid:
            started.message = '%s restarted (pid %d, was %d)' % (
                settings['name'], started.pid, stopped.pid)
        return started


def try_restart(settings, args):
    return restart(settings, args, only_if_running=True)


def reload(settings, args):
    if not settings['reload_signal']:
        return Outcome(control.UNIMPLEMENTED, '%s: reload is not configured (set'
                       ' reload-signal); use restart' % settings['name'])
    return send_signal(settings, settings['reload_signal'], 'reloaded')


def force_reload(settings, args):
    """reload if it can, else restart, and in both cases only if running."""
    if settings['reload_signal']:
        return reload(settings, args)
    return try_restart(settings, args)


def kill(settings, args):
    try:
        name = config.parse_signal('kill', args[0])
    except config.SettingError as e:
        return Outcome(control.BAD_ARGS, '%s: %s' % (settings['name'], e.message))
    if len(args) > 1:
        return Outcome(control.BAD_ARGS, '%s: kill takes one signal' % settings['name'])
    return send_signal(settings, name, 'sent %s' % name)


def send_signal(settings, signame, done):
    """Signal the program itself (not its group: a master process decides
    what its workers get)."""
    from . import process
    files = control.files_of(settings)
    record = files.read()
    if record.ident is None or not process.send(record.ident, process.signal_number(signame)):
        return Outcome(control.NOT_RUNNING, '%s is not running' % settings['name'])
    return Outcome(control.SUCCESS, '%s %s (pid %d)' % (settings['name'], done, record.pid))


def pid(settings, args):
    st = control.status(settings)
    if st.code == 0:
        return Outcome(control.SUCCESS, '%d' % st.pid)
    return Outcome(st.code, st.message)


def foreground(settings, args):
    """Run attached; the PID file names this very process (exec keeps the
    PID and start time), so status and stop work from another terminal.

    It counts as stopped on purpose, so that when the session ends the
    watchdog does not bring the program back as a daemon; and stop signals
    only the program and its descendants, never the shell job it is in."""
    from . import daemon
    from . import process
    files = control.files_of(settings)
    files.prepare()
    with files.lock():
        st = control.status(settings, files)
        if st.code == 0:
            return Outcome(control.FAILED, '%s is already running (pid %d)'
                           % (settings['name'], st.pid))
        files.write(process.identity(os.getpid()), group=False)
        files.mark_stopped()
        sys.stdout.flush()
        try:
            daemon.exec_foreground(settings)
        except daemon.LaunchError as e:
            files.clear()
            return Outcome(control.LAUNCH_CODES[e.kind], '%s not started: %s'
                           % (settings['name'], e))


def spawn(settings, args):
    """An extra, untracked instance: it gets no PID file, so it must carry
    a timeout after which it is stopped like the service would be."""
    from . import spawn as spawner
    try:
        timeout = config.parse_seconds('spawn', args[0])
    except config.SettingError:
        return Outcome(control.BAD_ARGS, '%s: spawn needs a timeout in seconds first,'
                       ' got %r' % (settings['name'], args[0]))
    return spawner.spawn(settings, timeout, args[1:])


ACTION_FUNCTIONS = {
    'start': start, 'stop': stop, 'restart': restart, 'try-restart': try_restart,
    'reload': reload, 'force-reload': force_reload, 'kill': kill, 'pid': pid,
    'foreground': foreground, 'spawn': spawn,
}


if __name__ == '__main__':
    sys.exit(main())
