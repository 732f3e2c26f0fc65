"""The services' state for Prometheus, in the text exposition format that
node_exporter's textfile collector reads (``metrics = DIR``).

One file per service, ``DIR/buildout_script_NAME@PID_DIR.prom`` (the pid
dir with its slashes as underscores, so two buildouts' services of one
name do not share a file), written to a temporary name and renamed, so a scrape never reads
half of one.  The check writes it at every run, the keeper at every change
of a service's state; ``bin/services metrics`` prints the same text.

Each series is labelled with the service and its pid dir (one per
buildout: where its state files and its keeper live).
"""

import os
import time

PREFIX = 'buildout_script_'
STATES = ('stopped', 'starting', 'running', 'replacing', 'stopping', 'backoff', 'exited',
          'fatal', 'dead', 'unknown')

# name: (type, help)
FAMILIES = {
    'up': ('gauge', 'Whether the service\'s program runs and, if supervised, its keeper'
                    ' with it (1) or not (0).'),
    'state': ('gauge', 'The service\'s state: 1 for the one it is in.'),
    'start_time_seconds': ('gauge', 'When the running program started, in seconds since'
                                    ' the epoch.'),
    'restarts_total': ('counter', 'Restarts made by the check or the keeper since a person'
                                  ' last started the service.'),
    'last_exit_code': ('gauge', 'The exit status of the last program that ended by'
                                ' itself, as the keeper saw it.'),
    'last_exit_signal': ('gauge', 'The signal that ended the last program, as the keeper'
                                  ' saw it.'),
    'memory_bytes': ('gauge', 'Proportional set size of the program and of its'
                              ' descendants that carry the service\'s mark.'),
    'cpu_seconds_total': ('counter', 'User and system CPU time of the program and of its'
                                     ' marked descendants now running.'),
    'old_settings': ('gauge', '1 when the running program was started with settings'
                              ' other than the buildout\'s.'),
}


def samples(settings, status):
    """[(family, {extra labels}, value)] for one service, from its Status
    (a supervised one's says what the keeper knows)."""
    from . import process
    from .program import mark
    kept = getattr(status, 'record', None)
    state = kept['state'] if kept is not None and status.keeper else status.state
    state = state if state in STATES else 'unknown'
    running = status.state in ('running', 'starting') and status.pid is not None
    up = running and (kept is None or status.keeper is not None)
    found = [('up', {}, int(up))]
    found += [('state', {'state': name}, int(name == state)) for name in STATES]
    if running and status.uptime is not None:
        found.append(('start_time_seconds', {}, round(time.time() - status.uptime, 3)))
    found.append(('restarts_total', {}, _restarts_total(settings)))
    code, sig = _last_exit(kept.get('last-exit') if kept is not None else None)
    if code is not None:
        found.append(('last_exit_code', {}, code))
    if sig is not None:
        found.append(('last_exit_signal', {}, sig))
    if running:
        if status.memory is not None:
            found.append(('memory_bytes', {}, status.memory))
        cpu = process.family_cpu(status.pid, mark(settings))
        if cpu is not None:
            found.append(('cpu_seconds_total', {}, round(cpu, 2)))
        found.append(('old_settings', {}, int(bool(status.changed))))
    return found


def _restarts_total(settings):
    from .servicefiles import ServiceFiles, StateError
    try:
        return ServiceFiles(settings['pid-dir'], settings['name']).read_restarts_total()
    except StateError:
        return 0


def _last_exit(text):
    """(exit code, signal number) from the keeper's 'exited with status 3'
    or 'killed by SIGKILL'."""
    if not text:
        return None, None
    words = text.replace(')', ' ').split()
    code = words[words.index('status') + 1] if 'status' in words[:-1] else None
    names = [word for word in words if word.startswith('SIG')]
    if names:
        import signal               # only then: it brings enum, 2 ms of a healthy check
        number = getattr(signal, names[0], None)
    else:
        number = None
    return (int(code) if code and code.isdigit() else None), (int(number) if number else None)


def render(services):
    """The exposition text of ``services``: [(settings, samples)], each
    family's HELP and TYPE once, then its series."""
    lines = []
    for family, (kind, text) in FAMILIES.items():
        series = []
        for settings, found in services:
            base = {'service': settings['name'], 'pid_dir': settings['pid-dir']}
            for name, labels, value in found:
                if name == family:
                    series.append('%s%s{%s} %s' % (PREFIX, family, _labels(base, labels),
                                                   _number(value)))
        if series:
            lines += ['# HELP %s%s %s' % (PREFIX, family, text),
                      '# TYPE %s%s %s' % (PREFIX, family, kind)] + series
    return '\n'.join(lines) + '\n' if lines else ''


def _labels(base, extra):
    items = dict(base, **extra)
    return ','.join('%s="%s"' % (key, _escape(value)) for key, value in items.items())


def _escape(value):
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _number(value):
    return ('%d' % value) if isinstance(value, int) else repr(float(value))


def file_name(settings):
    return 'buildout_script_%s@%s.prom' % (settings['name'],
                                           settings['pid-dir'].strip('/').replace('/', '_'))


def write(settings, status):
    """The service's file in the ``metrics`` dir, replaced whole.  The dir
    is opened as the pid dir is (trusted.py): a planted symlink on the way
    redirects nothing, and a dir someone else could write is refused.
    Raises OSError (trusted.Untrusted among them), the caller's to say."""
    from . import trusted
    text = render([(settings, samples(settings, status))])
    path = settings['metrics']
    dir_fd = trusted.open_directory(path, create=True)
    try:
        why = trusted.refuse_directory(path, os.fstat(dir_fd), {os.geteuid()}, 'metrics dir',
                                       sticky_ok=False)
        if why:
            raise trusted.Untrusted(why)
        name = file_name(settings)
        temporary = '.%s.%d' % (name, os.getpid())
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o644, dir_fd=dir_fd)
        except FileExistsError:             # left by a writer killed on the way
            os.unlink(temporary, dir_fd=dir_fd)
            fd = os.open(temporary, flags, 0o644, dir_fd=dir_fd)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
