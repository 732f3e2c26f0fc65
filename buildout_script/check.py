"""bin/NAME-check: the watchdog cron runs.  Am I up?  If not, start me.

Up means: the recorded process is alive and is the one we started, and the
``check`` probe (if set) passes.  When down it starts the service as
``ctl start`` would, under the same lock, so two checks never start two
copies.  It never makes things worse: a service a person stopped with
``ctl stop`` stays stopped; restarts are counted, spaced out (``restart-delay``
doubling with each restart in the window) and given up after
``restart-limit`` restarts within ``restart-window``, until a person runs
``ctl start``.

Output and exit codes follow the Monitoring Plugins conventions: one line
``NAME STATUS - text | perfdata``; 0 OK, 1 WARNING (restarted it),
2 CRITICAL (down, not restarted), 3 UNKNOWN.  Without ``--verbose`` it is
silent while healthy and says each trouble once, so cron mails only news.
"""

import sys
import time

from . import cli
from . import lifecycle
from . import modes
from . import probe
from . import restarts
from . import config
from .servicefiles import StateError

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
WORDS = {OK: 'OK', WARNING: 'WARNING', CRITICAL: 'CRITICAL', UNKNOWN: 'UNKNOWN'}


def main(argv=None, settings=None):
    prog = cli.program_name('check')
    argv = sys.argv[1:] if argv is None else argv
    getattr(sys.stdout, 'reconfigure', lambda **kw: None)(
        errors='backslashreplace')                      # a path that is not UTF-8
    try:
        settings, verbose, restart, timeout = parse_args(argv, settings, prog)
    except (cli.UsageError, config.SettingError) as e:
        where = '--%s: ' % e.option if isinstance(e, config.SettingError) else ''
        print('%s UNKNOWN - %s%s' % (prog, where, e))
        return UNKNOWN
    try:
        code, line = report(settings, restart, verbose, timeout)
    except KeyboardInterrupt:
        code, line = UNKNOWN, status_line(settings['name'], UNKNOWN, 'interrupted', {})
    if line:
        print(line)
    return code


def report(settings, restart=True, verbose=False, timeout=None):
    """(exit code, the line to print or None): the check of one service as
    bin/NAME-check and bin/services say it.  Silent (None) while healthy
    unless ``verbose``, and for a trouble already said; never an exception
    but KeyboardInterrupt (the caller's to handle: it may have more to check)."""
    seen = []                           # the status, when the check changed nothing
    try:
        code, text, perf, news = check_within(timeout, settings, restart, seen)
    except StateError as e:
        code, text, perf, news = UNKNOWN, str(e), {}, True
    except TimedOut:
        code, text, perf, news = UNKNOWN, 'timed out after %gs (-t)' % timeout, {}, True
    except Exception as e:              # a watchdog must answer, never crash
        code, text, perf, news = UNKNOWN, 'internal error: %s: %s' % (
            e.__class__.__name__, e), {}, True
    if settings.get('metrics'):
        trouble = write_metrics(settings, seen[0] if seen else None)
        if trouble:
            print('%s: %s' % (settings['name'], trouble), file=sys.stderr)
    if not (verbose or (code != OK and news)):
        return code, None
    if 'restarts' not in perf and code != UNKNOWN:
        perf['restarts'] = restarts_in_window(settings)
    return code, status_line(settings['name'], code, text, perf)


def write_metrics(settings, status=None):
    """The service's metrics file, as things are after this check (its
    ``status``, if the check changed nothing); what went wrong, or None."""
    from . import metrics
    from . import trusted
    try:
        metrics.write(settings, status or modes.status(settings))
    except (OSError, trusted.Untrusted, StateError) as e:
        return 'cannot write its metrics in %s: %s' % (settings['metrics'], e)
    return None


def status_line(name, code, text, perf):
    """``NAME STATUS - text | perfdata``, as the Monitoring Plugins say it."""
    line = '%s %s - %s' % (name, WORDS[code], text)
    if perf:
        line += ' | ' + ' '.join('%s=%s' % kv for kv in perf.items())
    return line


def parse_args(argv, settings, prog):
    """(settings, verbose, restart, timeout) from the command line; the
    flags cron and a monitoring system pass are read without argparse."""
    quick = _quick_flags(argv) if settings is not None else None
    if quick is not None:
        return (settings,) + quick
    p = cli.parser(prog, '%s [-v] [--no-restart] [-t SECONDS] [--OPTION VALUE ...]' % prog,
                   '%s: the watchdog of %s, for cron and\nmonitoring systems: is it'
                   ' up?  If not, start it (unless a person stopped it).\n\n'
                   'exit codes (Monitoring Plugins):\n%s' % (
                       prog, cli.service_words(settings), cli.describe(EXIT_CODES)),
                   'Silent while healthy unless --verbose; each trouble is said once,\n'
                   'so cron mails only news.', version_flags=('-V', '--version'))
    p.add_argument('-v', '--verbose', action='store_true',
                   help='always print the status line (for Nagios, Icinga)')
    p.add_argument('--no-restart', action='store_true', help='only report')
    p.add_argument('-t', '--timeout', metavar='SECONDS', help='end with UNKNOWN if the'
                   ' check takes longer (a restart it began is undone)')
    settings, ns = cli.parse(p, argv, settings)
    timeout = None if ns.timeout is None else config.parse_seconds('timeout', ns.timeout)
    return settings, ns.verbose, not ns.no_restart, timeout


EXIT_CODES = [
    ('0 OK', 'running (silent unless --verbose)'),
    ('1 WARNING', 'it was down and this check restarted it'),
    ('2 CRITICAL', 'down and not restarted (start failed, backing off, gave up,'
                   ' or --no-restart)'),
    ('3 UNKNOWN', 'the check could not tell (bad arguments, state files, timeout)'),
]


def _quick_flags(argv):
    """(verbose, restart, timeout) when argv holds only -v, --verbose,
    --no-restart and -t/--timeout SECONDS; None for anything else."""
    verbose, restart, timeout = False, True, None
    words = iter(argv)
    for word in words:
        if word in ('-v', '--verbose'):
            verbose = True
        elif word == '--no-restart':
            restart = False
        elif word in ('-t', '--timeout') or word.startswith('--timeout='):
            value = word.partition('=')[2] if '=' in word else next(words, None)
            if value is None:
                return None
            timeout = config.parse_seconds('timeout', value)
        else:
            return None
    return verbose, restart, timeout


class TimedOut(BaseException):
    """-t ran out: a BaseException, like KeyboardInterrupt, so that a start
    in progress undoes itself on the way out."""


def check_within(timeout, settings, restart, seen=None):
    """check(), raising TimedOut after ``timeout`` seconds (None: no limit)."""
    if not timeout:
        return check(settings, restart, seen)
    import signal

    def ring(signum, frame):
        raise TimedOut()
    signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return check(settings, restart, seen)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def check(settings, restart=True, seen=None):
    """(code, text, perfdata, news): news is False when this trouble was
    already reported by an earlier run.  A healthy service's Status goes
    into ``seen``, for what follows the check (its metrics)."""
    status = modes.status(settings)
    healthy, why = _healthy(settings, status)
    if healthy and not _memory_to_look_at(settings, status):
        if seen is not None:
            seen.append(status)
        return _healthy_outcome(settings, status, why)
    try:
        with lifecycle.locked(settings) as files:
            return _under_the_lock(settings, files, restart)
    except StateError as e:
        if restart or not e.permission:
            raise
        return _looked_at_only(settings, status, healthy, why)


def _under_the_lock(settings, files, restart):
    """What the check says, and does, once it holds the service's lock."""
    status = modes.status(settings, files)   # another check may have acted
    healthy, why = _healthy(settings, status)
    over = _over_memory(settings, status, files) if healthy else None
    if healthy and over is None:
        return OK, why, _perf(status, settings), False
    why = over or why
    since = files.stopped_on_purpose()
    if since:
        return OK, 'stopped on purpose at %s; not restarting it (ctl start' \
            ' resumes)' % since, {}, False
    if _is_kept(status):
        outcome = _keepers_part(settings, files, status, why, restart)
        if outcome is not None:
            return outcome
    if not restart:
        return _report(files, files.read_restarts(), 'down', CRITICAL, why,
                       _perf(status, settings))
    return (None if over else _tolerated(settings, files, status, why)) or _restart(
        settings, files, status, why)


def _looked_at_only(settings, status, healthy, why):
    """--no-restart by a user who may not take the service's lock (a
    monitoring system's, through NRPE): the same verdict from what it may
    read.  Nothing is written, so a standing trouble is said at each run."""
    if healthy:
        return OK, why, _perf(status, settings), True
    since = lifecycle.files_of(settings).stopped_on_purpose()
    if since:
        return OK, 'stopped on purpose at %s; not restarting it' % since, {}, True
    if _is_kept(status) and status.keeper and status.state != 'running' \
            and status.record['state'] != 'backoff':
        return OK, '%s; its keeper (pid %d) is restarting it' % (why, status.keeper), \
            _perf(status), True
    return CRITICAL, why, _perf(status, settings), True


def _healthy_outcome(settings, status, why):
    """OK; but a run of failed probes ends here, and a program still on
    the settings it was started with is said once, as a WARNING.  A user
    who may not take the lock (a monitoring system's) is told the same,
    without either being written down."""
    old = '%s with old settings; restart to apply (changed: %s)' % (
        why, ', '.join(status.changed or ()))
    try:
        if settings['check'] and settings.get('check-failures', 1) > 1 \
                and lifecycle.files_of(settings).read_failures():
            with lifecycle.locked(settings) as files:
                files.write_failures(0)
        if status.changed:
            with lifecycle.locked(settings) as files:
                topic = 'old-settings %s %s' % (status.pid, ' '.join(status.changed))
                return _report(files, files.read_restarts(), topic, WARNING, old,
                               _perf(status, settings))
    except StateError as e:
        if not e.permission:
            raise
        if status.changed:
            return WARNING, old, _perf(status, settings), True
    return OK, why, _perf(status, settings), False


def _tolerated(settings, files, status, why):
    """The report while failed probes are fewer than ``check-failures``
    in a row (the program runs, so one slow answer is no reason to restart
    it); None when it is time to act.  Said with --verbose only."""
    needed = settings.get('check-failures', 1)
    if status.code != lifecycle.STATUS_RUNNING or needed <= 1:
        return None
    count = files.read_failures() + 1
    if count >= needed:
        files.write_failures(0)
        return None
    files.write_failures(count)
    perf = _perf(status)
    perf['failures'] = count
    return WARNING, '%s; failure %d of %d before a restart' % (why, count, needed), \
        perf, False


def _memory_to_look_at(settings, status):
    """Is a running program over ``memory-max``, or was it when last
    looked at?  (The check then looks again under the lock.)  A supervised
    program's memory is its keeper's to watch."""
    limit = settings.get('memory-max')
    if not limit or status.memory is None or _is_kept(status):
        return False
    return status.memory > limit or lifecycle.files_of(settings).restarts_hold('memory-over')


def _over_memory(settings, status, files):
    """The words for a program over ``memory-max`` for ``memory-max-for``
    (time to restart it), or None.  When it was first seen over is kept in
    the restart history; a look under the limit forgets it."""
    if not _memory_to_look_at(settings, status):
        return None
    history = files.read_restarts()
    over = history.get('memory-over')
    if status.memory <= settings['memory-max']:
        history.pop('memory-over', None)
        files.write_restarts(history)
        return None
    now = time.time()
    if not over or over[0] != status.pid:
        over = history['memory-over'] = [status.pid, now]
        files.write_restarts(history)
    if now - over[1] < settings['memory-max-for']:
        return None
    return 'running (pid %d, up %s) but its memory %s is over memory-max %s%s' % (
        status.pid, lifecycle.format_duration(status.uptime),
        lifecycle.format_bytes(status.memory), lifecycle.format_bytes(settings['memory-max']),
        ' for %ds' % (now - over[1]) if settings['memory-max-for'] else '')


def _is_kept(status):
    """A supervised service's status (it says what its keeper knows)."""
    return hasattr(status, 'keeper')


def _keepers_part(settings, files, status, why, restart):
    """What the check says of a supervised service that is not healthy,
    where the keeper has the next move: a program running without its
    keeper is adopted by a new one (WARNING); a program down while its
    keeper lives is the keeper's to restart (it applies the same rules).
    None where the check acts as for any service."""
    if status.state == 'running' and not status.keeper:
        if not restart:
            return _report(files, files.read_restarts(), 'unsupervised', WARNING,
                           '%s without its keeper' % why, _perf(status))
        from . import supervision
        adopted = supervision.adopt_if_unsupervised(settings, files)
        if adopted is None or adopted.code != 0:
            return _report(files, files.read_restarts(), None, CRITICAL,
                           '%s without its keeper; could not adopt it: %s' % (
                               why, adopted and adopted.message), _perf(status))
        status = modes.status(settings, files)
        return _report(files, files.read_restarts(), None, WARNING,
                       '%s; its keeper was gone, a new one (pid %s) adopted it'
                       % (why, status.keeper), _perf(status))
    if status.keeper and status.state != 'running':
        if status.record['state'] == 'backoff':
            return _report(files, files.read_restarts(), 'kept-backoff', CRITICAL,
                           status.message, _perf(status))
        return OK, '%s; its keeper (pid %d) is restarting it' % (why, status.keeper), \
            _perf(status), False
    return None


def _healthy(settings, status):
    """(healthy, why): the process test first, then the probe; a
    supervised program is healthy only with its keeper there."""
    if status.state == 'stopped':
        return False, 'not running'
    if status.state == 'dead':
        if status.pid is None:
            return False, 'dead (its PID file holds no PID)'
        return False, 'dead (pid %d is gone)' % status.pid
    if status.state == 'starting':
        return True, 'starting (pid %s)' % (status.pid or 'not recorded yet')
    if status.state == 'unknown':           # lifecycle._unrecorded_start
        return False, 'a start was cut short and its program runs unrecorded'
    if settings['check']:
        ok, detail = probe.run(settings['check'], settings['check-timeout'])
        if not ok:
            return False, 'running (pid %d) but its check %s failed: %s' % (
                status.pid, settings['check'], detail)
    why = 'running (pid %d, up %s)' % (status.pid, lifecycle.format_duration(status.uptime))
    if _is_kept(status):
        if not status.keeper:
            return False, why
        why += '; kept by pid %d' % status.keeper
    return True, why


def _restart(settings, files, status, why):
    window = settings['restart-window']
    decision, history = restarts.next_attempt(files, settings, time.time())
    recent = decision.recent
    perf = {'restarts': len(recent) - (decision.verdict == restarts.NOW)}
    if decision.verdict == restarts.GAVE_UP:
        # Given up stays given up, however old the restarts: only a person's
        # ctl start (which clears this history) resumes.
        outcome = _report(files, history, 'gave-up', CRITICAL,
                          '%s; gave up after %d restarts in %gs; run ctl start once it is'
                          ' fixed' % (why, settings['restart-limit'], window), perf)
        if outcome[3]:
            _fire(settings, 'gave-up', pid=status.pid, exit=why, restarts=len(recent))
        return outcome
    if decision.verdict == restarts.WAIT:
        return _report(files, history, 'backoff-%d' % len(recent), CRITICAL,
                       '%s; next restart in %ds (restart %d of %d within %gs)'
                       % (why, decision.wait + 0.999, len(recent) + 1,
                          settings['restart-limit'], window), perf)
    if status.state == 'dead':
        _fire(settings, 'exited', pid=status.pid, exit=why, restarts=len(recent) - 1)
    started = None
    if status.code == lifecycle.STATUS_RUNNING and getattr(status, 'keeper', None):
        started = _restart_kept(settings, files)    # hung: its keeper restarts it, and stays
    if started is None:
        if status.code == lifecycle.STATUS_RUNNING:   # hung: failed its probe
            stopped = modes.stop(settings, files, on_purpose=False)
            if stopped.code != 0:
                return _report(files, history, 'stop-failed', CRITICAL,
                               '%s; could not stop it: %s' % (why, stopped.message), perf)
        started = modes.start(settings, files)
    perf['restarts'] = len(recent)
    if started.code != 0:
        return _report(files, history, None, CRITICAL,
                       '%s; restart failed: %s' % (why, started.message), perf)
    verb = 'started' if status.state == 'stopped' else 'restarted'
    _fire(settings, verb, pid=started.pid, restarts=len(recent))
    return _report(files, history, None, WARNING, '%s; %s it (pid %d)'
                   % (why, verb, started.pid), dict(uptime='0s', **perf))


def _fire(settings, event, **facts):
    if settings.get('on-event'):
        from . import events
        events.fire(settings, event, **facts)


def _restart_kept(settings, files):
    """Restart a hung program through its keeper (with the stop schedule,
    then waiting for ready), as ``ctl restart`` does: the keeper is fine.
    None if the keeper is gone."""
    from . import supervision
    keeper, _ = supervision.keeper_of(files)
    if keeper is None:
        return None
    return supervision.ask_restart(settings, files)


def _report(files, history, topic, code, text, perf):
    """Remember what was said, so a standing trouble is said only once."""
    news = topic is None or history.get('reported') != topic
    history['reported'] = topic
    files.write_restarts(history)
    return code, text, perf, news


def _perf(status, settings=None):
    """uptime, and with ``memory-max`` the family's memory in bytes."""
    perf = {'uptime': '%ds' % status.uptime} if status.uptime is not None else {}
    if settings and settings.get('memory-max') and getattr(status, 'memory', None):
        perf['memory'] = '%dB;;%d' % (status.memory, settings['memory-max'])
    return perf


def restarts_in_window(settings):
    now = time.time()
    history = lifecycle.files_of(settings).read_restarts()
    return len([t for t in history.get('restarts', [])
                if now - t < settings['restart-window']])


if __name__ == '__main__':
    sys.exit(main())
