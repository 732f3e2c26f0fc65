"""The options of a service, checked once, shared by the recipe and the commands.

A recipe validates at buildout time and renders the result into the generated
scripts as Python literals; ``python -m buildout_script.ctl --option value``
goes through the same function at run time.  Both therefore agree on every
name, default and error message.  Errors are ``SettingError(option, message)``
so each caller can say where the value came from (a buildout part or a
command-line flag).
"""

import os

# Every option a service part (and ``ctl``/``check`` on the command line) takes,
# with its default as text.  ``None`` means "not set".
DEFAULTS = {
    'name': None,
    'program': None,
    'directory': '.',
    'pid-dir': 'var/run',
    'log-dir': 'var/log',
    'stdout': None,
    'stderr': None,
    'environment': '',
    'environment-file': None,
    'umask': None,
    'user': None,
    'start-timeout': '10',
    'ready': None,
    'stop-signal': 'TERM',
    'stop-timeout': '10',
    'reload-signal': None,
    'check': None,
    'check-timeout': '5',
    'restart-limit': '5',
    'restart-window': '3600',
    'restart-delay': '10',
    'supervise': 'false',
    'log-max-bytes': '50MB',
    'log-backups': '10',
    'watchdog-timeout': None,
    'check-failures': '1',
    'listen': None,
    'listen-mode': '0666',
    'restart-overlap': 'true',
    'limits': None,
    'nice': None,
    'oom-score-adjust': None,
    'memory-max': None,
    'memory-max-for': '0',
    'metrics': None,
    'on-event': None,
    'on-event-timeout': '30',
}

PROBE_FORMS = ('tcp:HOST:PORT', 'http://URL', 'https://URL',
               'exec:COMMAND', 'alive:SECONDS', 'notify')


class SettingError(ValueError):
    """A value the user must fix; ``option`` names where it is."""

    def __init__(self, option, message):
        super().__init__(message)
        self.option = option
        self.message = message


def parse(raw, base=None):
    """Turn option texts (keys as in DEFAULTS, dashed) into typed settings.

    Relative paths are made absolute against ``base`` (default: the current
    directory) so a generated script behaves the same wherever it is run from.
    """
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise SettingError(unknown[0], 'unknown option %r' % unknown[0])
    text = dict(DEFAULTS)
    text.update({k: v for k, v in raw.items() if v is not None})
    return implied(_parsed_over({}, text, base), raw)


def override(settings, raw, base=None):
    """A copy of ``settings`` with the options in ``raw`` (texts) parsed in."""
    return implied(_parsed_over(settings, raw, base), raw)


def _parsed_over(settings, raw, base):
    base = os.path.abspath(base or os.getcwd())
    s = dict(settings)
    for option in DEFAULTS:         # in order: stdout and stderr need log-dir
        if option in raw:
            s[option] = parse_option(option, raw[option], base, s)
    return s


def implied(settings, raw):
    """``listen`` implies ``supervise``: the keeper holds the sockets.  Said
    to be false as well, it is a mistake to name.  With a restart that
    overlaps, a ``ready`` probe of a held port would find the old program
    answering for the new one: that too is named."""
    if settings.get('listen'):
        if raw.get('supervise') is not None and not parse_flag('supervise', raw['supervise']):
            raise SettingError('listen', 'needs supervise = true, as the keeper holds the'
                               ' sockets; remove supervise = false')
        settings['supervise'] = True
        ports = {text.rpartition(':')[2] for text in settings['listen']
                 if not text.startswith('unix:')}
        probed = probe_port(settings.get('ready'))
        if settings.get('restart-overlap') and probed in ports:
            raise SettingError('ready', '%s probes a port the keeper holds: at a restart the'
                               ' old program would answer it for the new one; use ready ='
                               ' notify, or restart-overlap = false' % settings['ready'])
    return settings


def probe_port(probe):
    """The port a tcp: or http(s): probe connects to (a text), or None."""
    kind, _, rest = (probe or '').partition(':')
    if kind == 'tcp':
        return rest.rpartition(':')[2]
    if kind in ('http', 'https'):
        import urllib.parse
        url = urllib.parse.urlsplit(probe)
        return '%d' % (url.port or (443 if kind == 'https' else 80))
    return None


def parse_option(option, text, base, settings):
    """One option's typed value; ``settings`` holds the options before it."""
    if option == 'name':
        name = (text or '').strip()
        if not name or name.startswith(('.', '-')) or not all(
                c.isascii() and (c.isalnum() or c in '._-@') for c in name):
            raise SettingError('name', 'a service name is letters, digits and . _ - @'
                               ' (not first: . or -), got %r' % name)
        return name
    if option == 'program':
        return parse_program(text)
    if option == 'on-event':
        if text is None or (isinstance(text, str) and not text.strip()):
            return None
        try:
            return parse_program(text)
        except SettingError as e:
            raise SettingError('on-event', e.message)
    if option in ('pid-dir', 'log-dir'):
        if text is None or not str(text).strip():
            raise SettingError(option, 'is empty; give a directory (default %s)'
                               % DEFAULTS[option])
        return _path(text, base)
    if option in ('directory', 'metrics'):
        return _path(text, base) if text and text.strip() else None
    if option in ('stdout', 'stderr'):
        return _path(text, settings.get('log-dir') or base) if text else None
    if option == 'environment':
        return parse_environment(text)
    if option == 'environment-file':
        return _path(text, base) if text and text.strip() else None
    if option == 'check-failures':
        return parse_positive(option, text)
    if option == 'umask':
        return parse_umask(text)
    if option == 'user':
        return (text or '').strip() or None
    if option in ('ready', 'check'):
        return parse_probe(option, text)
    if option.endswith('-signal'):
        return parse_signal(option, text)
    if option in ('restart-limit', 'log-backups'):
        return parse_count(option, text)
    if option in ('supervise', 'restart-overlap'):
        return parse_flag(option, text)
    if option == 'listen':
        return parse_listen(text, base)
    if option == 'listen-mode':
        mode = parse_umask(text, option, '0660')
        if mode is None:
            raise SettingError(option, 'is empty; give an octal mode such as 0660')
        return mode
    if option in ('limits', 'nice', 'oom-score-adjust'):
        return parse_limit(option, text)
    if option == 'log-max-bytes':
        return parse_size(option, text)
    if option == 'memory-max':
        return parse_size(option, text) or None if text not in (None, '') else None
    if option == 'watchdog-timeout':
        return parse_seconds(option, text) or None if text not in (None, '') else None
    return parse_seconds(option, text)


def parse_flag(option, text):
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in ('true', 'yes', 'on', '1'):
        return True
    if word in ('false', 'no', 'off', '0', ''):
        return False
    raise SettingError(option, 'expected true or false, got %r' % text)


SIZE_UNITS = {'': 1, 'B': 1, 'KB': 1024, 'K': 1024, 'MB': 1024 ** 2, 'M': 1024 ** 2,
              'GB': 1024 ** 3, 'G': 1024 ** 3}


def parse_size(option, text):
    """A number of bytes, with an optional KB, MB or GB (powers of 1024);
    0 turns the size limit off."""
    if isinstance(text, int):
        return text
    word = str(text).strip().upper()
    digits = word.rstrip('KMGB')
    unit = word[len(digits):]
    if not digits.isdigit() or unit not in SIZE_UNITS:
        raise SettingError(option, 'expected a size such as 50MB, 512KB or 0 (no limit),'
                           ' got %r' % text)
    return int(digits) * SIZE_UNITS[unit]


def parse_program(text):
    """A command line split as a shell would, never run through one."""
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        return [str(a) for a in text] or None
    import shlex
    try:
        argv = shlex.split(text)
    except ValueError as e:
        raise SettingError('program', 'cannot split %r: %s' % (text, e))
    if not argv:
        raise SettingError('program', 'is empty; give the command line to run')
    return argv


def parse_environment(text):
    """KEY=VALUE lines (blank lines and # comments ignored) into a dict."""
    if isinstance(text, dict):
        return dict(text)
    env = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        name, sep, value = line.partition('=')
        name = name.strip()
        if not sep or not name or not name.replace('_', 'a').isalnum() or name[0].isdigit():
            raise SettingError('environment', 'expected KEY=VALUE lines, got %r' % line)
        env[name] = value.strip()
    return env


def parse_listen(text, base):
    """The addresses the keeper listens on for the program, as texts."""
    if text is None or not str(text).strip():
        return None
    if isinstance(text, (list, tuple)):
        return list(text)
    from . import sockets
    try:
        return [address.text for address in sockets.parse_all(text, base)]
    except ValueError as e:
        raise SettingError('listen', str(e))


def parse_limit(option, text):
    """``limits``, ``nice`` or ``oom-score-adjust`` (limits.py)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    from . import limits
    parser = {'limits': limits.parse, 'nice': limits.parse_nice,
              'oom-score-adjust': limits.parse_oom_score_adjust}[option]
    try:
        return parser(text)
    except ValueError as e:
        raise SettingError(option, str(e))


def parse_umask(text, option='umask', example='022'):
    """An octal mode (``umask``, ``listen-mode``)."""
    if text is None or str(text).strip() == '':
        return None
    try:
        value = int(str(text).strip(), 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise SettingError(option, 'expected an octal mode such as %s, got %r'
                           % (example, text))
    return value


def parse_seconds(option, text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise SettingError(option, 'expected a number of seconds, got %r' % text)
    if not 0 <= value < float('inf'):
        raise SettingError(option, 'expected a number of seconds >= 0, got %r' % text)
    return value


def parse_count(option, text):
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = -1
    if value < 0:
        raise SettingError(option, 'expected a whole number >= 0, got %r' % text)
    return value


def parse_positive(option, text):
    value = parse_count(option, text)
    if value < 1:
        raise SettingError(option, 'expected a whole number >= 1, got %r' % text)
    return value


def parse_signal(option, text):
    """A signal by name (TERM, SIGTERM) or number; kept as its name.
    Only reload-signal may be empty (no reload)."""
    if text is None or str(text).strip() == '':
        if option != 'reload-signal':
            raise SettingError(option, 'is empty; give a signal such as TERM')
        return None
    import signal
    word = str(text).strip().lstrip('-').upper()
    try:
        sig = signal.Signals(int(word)) if word.isdigit() else signal.Signals[
            word if word.startswith('SIG') else 'SIG' + word]
    except (KeyError, ValueError):
        raise SettingError(option, 'unknown signal %r; use a name such as TERM, INT,'
                           ' QUIT, HUP or USR1' % text)
    return sig.name


def parse_probe(option, text):
    """Validate a readiness/health probe; kept as its text, checked again when used."""
    if text is None or str(text).strip() == '':
        return None
    text = str(text).strip()
    kind, _, rest = text.partition(':')
    kind = kind.lower()
    if kind == 'tcp':
        host, _, port = rest.rpartition(':')
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingError(option, 'expected tcp:HOST:PORT, got %r' % text)
    elif kind in ('http', 'https'):
        import urllib.parse
        try:
            url = urllib.parse.urlsplit(text)
            url.port                            # raises ValueError if not a number
        except ValueError:
            url = None
        if not url or not url.hostname or url.username or url.password:
            raise SettingError(option, 'expected a URL such as http://127.0.0.1:8080/,'
                               ' got %r' % text)
    elif kind == 'exec':
        import shlex
        try:
            argv = shlex.split(rest)
        except ValueError as e:
            raise SettingError(option, 'cannot split %r: %s' % (rest, e))
        if not argv:
            raise SettingError(option, 'exec: needs a command, got %r' % text)
    elif kind == 'alive' and option == 'ready':
        parse_seconds(option, rest)
    elif kind == 'notify' and option == 'ready' and not rest:
        return 'notify'
    else:
        forms = PROBE_FORMS if option == 'ready' else PROBE_FORMS[:-2]
        raise SettingError(option, 'unknown probe %r; expected one of %s'
                           % (text, ', '.join(forms)))
    return text


def _path(text, base):
    return os.path.normpath(os.path.join(base, os.path.expanduser(text.strip())))
