"""bin/services: one command over several services, in one process.

    bin/services status [--json] [NAME ...]
    bin/services start | stop | restart [NAME ...]
    bin/services check [-v] [--no-restart] [NAME ...]
    bin/services metrics [NAME ...]

A generated script calls ``main(sys.argv[1:], settings_list, after)`` with
every service's settings rendered in (the same literals as its own
``bin/NAMEctl``), and ``after``, each name's list of the services it needs.

``start`` goes in dependency order, each service waiting until the ones it
needs are ready; a service whose dependency failed is not started, and says
why.  Naming a service starts what it needs too.  ``stop`` goes in reverse
order, and only the services named (or all).  ``restart`` restarts each in
dependency order.  ``status`` prints one line per service and exits 0 when all
run, else the worst LSB status code; ``check`` is the watchdog for each,
printing a line only for those that need saying, and exits with the worst
Monitoring Plugins code.  ``metrics`` prints their state in Prometheus' text
format, as the ``metrics`` option writes it for node_exporter.

Each action is what ``bin/NAMEctl`` and ``bin/NAME-check`` do for one service;
``status`` imports no more than ``bin/NAMEctl status`` does.
"""

import os
import sys

from . import lifecycle
from . import modes
from .servicefiles import StateError

ACTIONS = ('status', 'start', 'stop', 'restart', 'check', 'metrics')
FLAGS = {'status': ('--json',), 'check': ('-v', '--verbose', '--no-restart')}

# Worst last.  status: dead (1) is a failure, unknown (4) we could not tell,
# stopped (3) may be on purpose.  check: as Nagios ranks its states.
STATUS_RANK = (lifecycle.STATUS_RUNNING, lifecycle.STATUS_STOPPED,
               lifecycle.STATUS_UNKNOWN, lifecycle.STATUS_DEAD)
CHECK_RANK = (0, 1, 3, 2)       # OK, WARNING, UNKNOWN, CRITICAL


class UsageError(Exception):
    pass


def main(argv=None, settings_list=(), after=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = os.path.basename(sys.argv[0]) or 'services'
    services = {settings['name']: settings for settings in settings_list}
    after = {name: list((after or {}).get(name, ())) for name in services}
    if argv[:1] in (['-h'], ['--help']):
        print(__doc__.split('\n\n')[0] + '\n\n' + __doc__.split('\n\n')[1])
        print('\nservices: %s' % ', '.join(services))
        return 0
    try:
        action, flags, names = parse_args(argv, services)
    except UsageError as e:
        print('%s: %s' % (prog, e), file=sys.stderr)
        return 3 if argv[:1] == ['check'] else lifecycle.BAD_ARGS
    try:
        if action == 'status':
            return status(services, names or list(services), '--json' in flags)
        if action == 'metrics':
            return print_metrics(services, names or list(services))
        if action == 'check':
            return check_each(services, names or list(services), bool(
                {'-v', '--verbose'} & flags), '--no-restart' not in flags)
        return ACTION_FUNCTIONS[action](services, after, names)
    except KeyboardInterrupt:
        print('%s: interrupted' % prog, file=sys.stderr)
        return lifecycle.FAILED


def parse_args(argv, services):
    """(action, flags, names) from the command line, without argparse."""
    if not argv:
        raise UsageError('usage: ACTION [NAME ...], ACTION one of %s; the services'
                         ' are %s (try --help)' % (', '.join(ACTIONS), ', '.join(services)))
    action, words = argv[0], argv[1:]
    if action not in ACTIONS:
        raise UsageError('unknown action %r; expected one of %s'
                         % (action, ', '.join(ACTIONS)))
    flags = {w for w in words if w.startswith('-')}
    wrong = sorted(flags - set(FLAGS.get(action, ())))
    if wrong:
        raise UsageError('%s takes no option %s' % (action, wrong[0]))
    names = [w for w in words if not w.startswith('-')]
    unknown = [name for name in names if name not in services]
    if unknown:
        raise UsageError('no service %s; the services are %s'
                         % (', '.join(unknown), ', '.join(services)))
    return action, flags, list(dict.fromkeys(names))


def worst(codes, rank):
    return max(codes, key=rank.index, default=0)


# -- status ----------------------------------------------------------------------

def status(services, names, as_json):
    codes, rows = [], []
    for name in names:
        try:
            st = modes.status(services[name])
        except StateError as e:
            st = lifecycle.Status(lifecycle.STATUS_UNKNOWN, 'unknown', None, None,
                                  '%s: %s' % (name, e))
        codes.append(st.code)
        rows.append({'name': name, 'state': st.state, 'pid': st.pid,
                     'uptime': None if st.uptime is None else round(st.uptime, 3),
                     'memory': st.memory, 'code': st.code, 'changed': st.changed, 'message': st.message})
    if as_json:
        import json
        print(json.dumps(rows))
    else:
        for row in rows:
            print(row['message'])
    return worst(codes, STATUS_RANK)


# -- start, stop, restart -----------------------------------------------------------

def start(services, after, names):
    return _in_order(services, after, names, 'start')


def restart(services, after, names):
    return _in_order(services, after, names, 'restart')


def stop(services, after, names):
    from . import order
    from . import ctl
    codes = []
    for name in reversed(order.start_order(after)):
        if not names or name in names:
            codes.append(_act(ctl.do_stop, services[name]))
    return max(codes, default=0)


def _in_order(services, after, names, action):
    """Start (or restart) in dependency order; what needs a service that
    failed is not touched."""
    from . import order
    from . import ctl
    act = ctl.do_start if action == 'start' else ctl.do_restart
    failed, codes = set(), []
    for name in order.start_order(after, names or None):
        if action == 'restart' and names and name not in names:
            continue                    # restart only those named
        missing = [need for need in after[name] if need in failed]
        if missing:
            print('%s not %sed: it needs %s, which did not %s' % (
                name, action, ', '.join(missing), action), file=sys.stderr)
            code = lifecycle.FAILED
        else:
            code = _act(act, services[name])
        if code != 0:
            failed.add(name)
        codes.append(code)
    return max(codes, default=0)


def _act(function, settings):
    """One ctl action on one service: its line printed, its exit code."""
    try:
        outcome = function(settings, [])
    except StateError as e:
        print('%s: %s' % (settings['name'], e), file=sys.stderr)
        return lifecycle.NO_PRIVILEGE if e.permission else lifecycle.FAILED
    except PermissionError:
        print('%s: permission denied (run as the user that owns the service, or as'
              ' root)' % settings['name'], file=sys.stderr)
        return lifecycle.NO_PRIVILEGE
    if outcome.message:
        print(outcome.message, file=sys.stdout if outcome.code == 0 else sys.stderr)
    return outcome.code


# -- check ---------------------------------------------------------------------------

def check_each(services, names, verbose, restart):
    """The check of each service, its line printed when it has one to say."""
    from . import check
    codes = []
    for name in names:
        code, line = check.report(services[name], restart, verbose)
        if line:
            print(line)
        codes.append(code)
    return worst(codes, CHECK_RANK)


def print_metrics(services, names):
    from . import metrics
    found = []
    for name in names:
        try:
            found.append((services[name], metrics.samples(services[name],
                                                          modes.status(services[name]))))
        except StateError as e:
            print('%s: %s' % (name, e), file=sys.stderr)
    sys.stdout.write(metrics.render(found))
    return 0 if len(found) == len(names) else lifecycle.NO_PRIVILEGE


ACTION_FUNCTIONS = {'start': start, 'stop': stop, 'restart': restart}
