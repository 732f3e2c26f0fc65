"""What a program was started with, so ``status`` can tell when a buildout
run has changed it since.

At start, the settings the program itself sees (its command line, directory,
environment, user, umask, logs) are recorded in NAME.settings as canonical
text, with a SHA-256 of the variables of ``environment-file``: a changed
secret is a change to apply too.  ``status`` compares that text with the
settings of the script it runs from: a string comparison, nothing to import
on the fast path (hashlib only when an environment file is set).

Options the commands read at each run (probes, timeouts, signals, the
restart policy) are left out: the new script applies them already, and a
restart would change nothing.  So is ``supervise``: the next command adopts
a running program under a keeper.  The record is private (mode 600): it holds
``environment`` values.
"""


COMMAND_OPTIONS = frozenset((
    'start-timeout', 'ready', 'stop-signal', 'stop-timeout', 'reload-signal', 'check',
    'check-timeout', 'check-failures', 'restart-limit', 'restart-window', 'restart-delay',
    'supervise', 'restart-overlap', 'memory-max', 'memory-max-for', 'metrics', 'on-event',
    'on-event-timeout'))


def launch_text(settings):
    """The canonical text of the settings a restart would apply."""
    items = []
    for key in sorted(settings):
        if key in COMMAND_OPTIONS:
            continue
        value = settings[key]
        if isinstance(value, dict):
            value = sorted(value.items())
        items.append((key, value))
    return repr(items)


def record_text(settings):
    """What start writes to NAME.settings."""
    path = settings.get('environment-file')
    return '%s\n%s\n' % ((_digest(path) if path else None) or '-',
                         launch_text(settings))


def changes(settings, recorded):
    """The names of what differs from ``recorded`` ([] when nothing does),
    or None when nothing was recorded (started by an older version, or the
    record is not ours to read)."""
    if not recorded:
        return None
    digest, _, text = recorded.partition('\n')
    changed = []
    current = launch_text(settings)
    if text.rstrip('\n') != current:
        changed = _differing(text, settings)
    path = settings.get('environment-file')
    if path and 'environment-file' not in changed:
        now = _digest(path)
        if now is not None and now != digest:
            changed.append('environment-file')
    return changed


def _differing(text, settings):
    import ast
    try:
        old = dict(ast.literal_eval(text.strip()))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ['settings']
    new = dict(ast.literal_eval(launch_text(settings)))
    # An option a newer version added, unset, is no change: absent means unset.
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _digest(path):
    """envfile.digest, imported only by a service that has an environment-file:
    status pays for no module it does not use."""
    from . import envfile
    return envfile.digest(path)
