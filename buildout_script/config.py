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
    return override({}, text, base)


def override(settings, raw, base=None):
    """A copy of ``settings`` with the options in ``raw`` (texts) parsed in."""
    base = os.path.abspath(base or os.getcwd())
    s = dict(settings)
    for option in DEFAULTS:         # in order: stdout and stderr need log-dir
        if option in raw:
            s[option] = parse_option(option, raw[option], base, s)
    return s


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
    if option in ('pid-dir', 'log-dir'):
        if text is None or not str(text).strip():
            raise SettingError(option, 'is empty; give a directory (default %s)'
                               % DEFAULTS[option])
        return _path(text, base)
    if option == 'directory':
        return _path(text, base) if text else None
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
    if option == 'supervise':
        return parse_flag(option, text)
    if option == 'log-max-bytes':
        return parse_size(option, text)
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


def parse_umask(text):
    if text is None or str(text).strip() == '':
        return None
    try:
        value = int(str(text).strip(), 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise SettingError('umask', 'expected an octal mode such as 022, got %r' % text)
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
