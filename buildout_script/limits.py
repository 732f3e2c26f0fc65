"""Resource limits, priority and OOM score of a program (``limits``,
``nice``, ``oom-score-adjust``): parsed once for config, set in the
program's own process between fork and exec, before it gives up root (only
root may raise a hard limit, a priority or lower its OOM score), and named
for the systemd export.

``limits`` is setrlimit's resources by their names in ``ulimit`` and
systemd (``nofile=65536 core=0 nproc=256:512``): one value sets the soft
and the hard limit alike, as systemd's ``LimitNOFILE=`` does; ``SOFT:HARD``
each.  ``unlimited`` lifts one.  Sizes take K, M and G (powers of 1024).
"""

import os

# name in ``limits``: (systemd directive, counts bytes)
RESOURCES = {
    'as': ('LimitAS', True), 'core': ('LimitCORE', True), 'cpu': ('LimitCPU', False),
    'data': ('LimitDATA', True), 'fsize': ('LimitFSIZE', True),
    'locks': ('LimitLOCKS', False), 'memlock': ('LimitMEMLOCK', True),
    'msgqueue': ('LimitMSGQUEUE', True), 'nice': ('LimitNICE', False),
    'nofile': ('LimitNOFILE', False), 'nproc': ('LimitNPROC', False),
    'rss': ('LimitRSS', True), 'rtprio': ('LimitRTPRIO', False),
    'rttime': ('LimitRTTIME', False), 'sigpending': ('LimitSIGPENDING', False),
    'stack': ('LimitSTACK', True),
}
UNLIMITED = -1                          # resource.RLIM_INFINITY
UNITS = {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3}
EXAMPLE = 'nofile=65536 core=0 nproc=256:512'


def parse(text):
    """``limits`` as {name: [soft, hard]}, or None; a ValueError says what
    is wrong."""
    if text is None or isinstance(text, dict):
        return text or None
    found = {}
    for word in str(text).split():
        name, sep, value = word.partition('=')
        name = name.strip().lower()
        if not sep or not value:
            raise ValueError('expected NAME=VALUE words such as %s, got %r' % (EXAMPLE, word))
        if name not in RESOURCES:
            raise ValueError('unknown limit %r; known: %s' % (name, ', '.join(sorted(RESOURCES))))
        soft, _, hard = value.partition(':')
        low, high = number(name, soft), number(name, hard or soft)
        if high != UNLIMITED and (low == UNLIMITED or low > high):
            raise ValueError('%s: the soft limit %s is above the hard limit %s'
                             % (name, soft, hard))
        found[name] = [low, high]
    return found or None


def number(name, word):
    """One limit's value: a whole number, a size for a resource that counts
    bytes, or ``unlimited``."""
    word = word.strip().upper()
    if word in ('UNLIMITED', 'INFINITY'):
        return UNLIMITED
    unit = word[-1:] if word[-1:] in 'KMG' and RESOURCES[name][1] else ''
    digits = word[:len(word) - len(unit)]
    if not digits.isdigit():
        raise ValueError('%s: expected a whole number%s or unlimited, got %r' % (
            name, ' (with K, M or G)' if RESOURCES[name][1] else '', word.lower()))
    return int(digits) * UNITS[unit]


def parse_nice(text):
    return _whole(text, -20, 19, 'nice')


def parse_oom_score_adjust(text):
    return _whole(text, -1000, 1000, 'oom-score-adjust')


def _whole(text, low, high, option):
    if text is None or str(text).strip() == '':
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValueError('expected a whole number from %d to %d, got %r' % (low, high, text))
    return value


def steps(settings):
    """What the program's process will set, worked out before the fork
    (the child imports nothing): [(RLIMIT number, name, soft, hard)], nice,
    oom-score-adjust."""
    limits = settings.get('limits') or {}
    if limits:
        import resource
        limits = [(getattr(resource, 'RLIMIT_' + name.upper()), name, soft, hard)
                  for name, (soft, hard) in sorted(limits.items())]
    return (list(limits) or None, settings.get('nice'), settings.get('oom-score-adjust'))


def apply(limits, nice, oom_score_adjust, error):
    """In the program's process, before a change of user; ``error(text)``
    makes the exception to raise (a LaunchError)."""
    for number_, name, soft, hard in limits or ():
        try:
            _setrlimit(number_, soft, hard)
        except (OSError, ValueError) as e:
            raise error('cannot set the limit %s=%s: %s' % (
                name, _said(soft, hard), _why(number_, e)))
    if nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError:
            raise error('cannot set nice = %d: only root may raise a priority' % nice)
    if oom_score_adjust is not None:
        _write_oom_score_adjust(oom_score_adjust, error)


def _setrlimit(number_, soft, hard):
    import resource                     # imported by steps() already: no file is read
    resource.setrlimit(number_, (soft, hard))


def _why(number_, e):
    if os.geteuid() == 0:
        return 'the kernel refuses it (%s)' % (getattr(e, 'strerror', None) or e)
    import resource
    _, hard = resource.getrlimit(number_)
    return 'the hard limit here is %s, and only root may raise it' % _said(hard, hard)


def _said(soft, hard):
    words = ['unlimited' if v == UNLIMITED else str(v) for v in (soft, hard)]
    return words[0] if soft == hard else '%s:%s' % tuple(words)


def _write_oom_score_adjust(value, error):
    try:
        fd = os.open('/proc/self/oom_score_adj', os.O_WRONLY)
        try:
            os.write(fd, b'%d' % value)
        finally:
            os.close(fd)
    except OSError:
        raise error('cannot set oom-score-adjust = %d: only root may lower it' % value)


def as_options(settings):
    """The options that are set, as a person writes them (for a note)."""
    said = []
    if settings.get('limits'):
        said.append('limits = %s' % ' '.join(
            '%s=%s' % (name, _said(soft, hard))
            for name, (soft, hard) in sorted(settings['limits'].items())))
    for option in ('nice', 'oom-score-adjust'):
        if settings.get(option) is not None:
            said.append('%s = %d' % (option, settings[option]))
    return said


def systemd_lines(settings):
    """The unit's Limit*=, Nice= and OOMScoreAdjust= lines."""
    lines = []
    for name, (soft, hard) in sorted((settings.get('limits') or {}).items()):
        words = ['infinity' if v == UNLIMITED else str(v) for v in (soft, hard)]
        lines.append('%s=%s' % (RESOURCES[name][0],
                                words[0] if soft == hard else ':'.join(words)))
    if settings.get('nice') is not None:
        lines.append('Nice=%d' % settings['nice'])
    if settings.get('oom-score-adjust') is not None:
        lines.append('OOMScoreAdjust=%d' % settings['oom-score-adjust'])
    if settings.get('memory-max'):
        lines.append('MemoryMax=%d' % settings['memory-max'])
    return lines
