"""A ``[program:NAME]`` include for a system-wide supervisord: ``supervisor = PATH``.

supervisord reads it with its own rules, which shape the quoting here:
values go through ``%`` expansion (so ``%`` is doubled), a ``;`` or ``#``
after white space starts a comment, ``command`` is split with
``shlex.split`` and ``environment`` with a non-POSIX ``shlex`` (quotes kept,
no escapes).  A value that cannot survive those rules is refused, never
written wrong.  A setting supervisord cannot express is named in a comment
and returned as a note.
"""

import math
import re
import shlex

COMMENT = re.compile(r'\s[;#]')


class SupervisorError(ValueError):
    """A value supervisord would read differently; the message says which."""


def expand_safe(text):
    return text.replace('%', '%%')


def value(option, text):
    """``text`` as a supervisord value that reads back as ``text``."""
    if '\n' in text or '\r' in text or text != text.strip() or COMMENT.search(text):
        raise SupervisorError('supervisord cannot read %s %r as it is (a newline, white'
                              ' space at an end, or ; or # after a space)' % (option, text))
    return expand_safe(text)


def command_word(word):
    """One word of ``command``: shell-quoted, with no ``;`` or ``#`` after a space
    (a quote is closed and opened again just before each)."""
    quoted = shlex.quote(word)
    if quoted.startswith("'"):
        quoted = quoted.replace(';', "'';").replace('#', "''#")
    return quoted


def environment_value(key, text):
    for quote in '"\'':
        if quote not in text and not text.startswith(('"', "'")) \
                and not text.endswith(('"', "'")) and not COMMENT.search(text):
            return expand_safe('%s=%s%s%s' % (key, quote, text, quote))
    raise SupervisorError('supervisord cannot read the environment variable %s=%r'
                          ' as it is (quotes, or ; or # after a space)' % (key, text))


def whole_seconds(setting, seconds, notes):
    """supervisord counts whole seconds: round up and say so."""
    whole = math.ceil(seconds)
    if whole != seconds:
        notes.append('%s: supervisord counts whole seconds; %d here' % (setting, whole))
    return whole


def program_section(settings, argv, part, base, log_paths, mark):
    """(text, notes) of the include file."""
    notes = []
    name = settings['name']
    ready = (settings['ready'] or '').strip()
    kind, _, rest = ready.partition(':')
    startsecs = 0
    if kind.lower() == 'alive':
        startsecs = whole_seconds('ready = %s' % ready, float(rest), notes)
    elif ready:
        notes.append('ready = %s: supervisord does not run this probe (nor read'
                     ' sd_notify); it counts the program started once it is executed'
                     % ready)
    if settings['check']:
        notes.append('check = %s: supervisord runs no health probe; only a death is'
                     ' restarted' % settings['check'])
    if settings['restart-limit']:
        notes.append('restart-limit = %d, restart-window = %g, restart-delay = %g:'
                     ' supervisord restarts at once after every death, without limit'
                     % (settings['restart-limit'], settings['restart-window'],
                        settings['restart-delay']))
    if settings.get('environment-file'):
        notes.append('environment-file = %s: supervisord reads no file of variables;'
                     ' its values are not in this include (copy what the program needs'
                     ' into environment, knowing the include is as readable as the file'
                     ' it is in)' % settings['environment-file'])
    if settings.get('listen'):
        notes.append('listen = %s: supervisord holds no sockets for a program (its'
                     ' fcgi-program does, for FastCGI only); under supervisord the program'
                     ' gets no LISTEN_FDS and must bind the addresses itself, and a restart'
                     ' refuses connections' % ' '.join(settings['listen']))
    from .. import limits
    said = limits.as_options(settings)
    if said:
        notes.append('%s: supervisord sets no limits, priority or OOM score for a program'
                     ' (its minfds and minprocs are its own); wrap the command in prlimit,'
                     ' nice or choom to have them' % ', '.join(said))
    if settings.get('memory-max'):
        notes.append('memory-max = %d: supervisord has no memory ceiling (superlance\'s'
                     ' memmon, an event listener, restarts on one)' % settings['memory-max'])
    if settings['reload-signal']:
        notes.append('reload-signal = %s: reload with supervisorctl signal %s %s'
                     % (settings['reload-signal'], settings['reload-signal'][3:], name))

    lines = ['[program:%s]' % name,
             'command = %s' % expand_safe(' '.join(command_word(w) for w in argv)),
             'directory = %s' % value('directory', settings['directory'])]
    if settings['user']:
        lines.append('user = %s' % value('user', settings['user']))
    if settings['umask'] is not None:
        lines.append('umask = %03o' % settings['umask'])
    key, _, mark_value = mark.partition('=')
    env = dict(sorted(settings['environment'].items()), **{key: mark_value})
    lines.append('environment = %s' % ','.join(
        environment_value(k, v) for k, v in env.items()))
    lines += [
        'autostart = true',
        'autorestart = %s' % ('true' if settings['restart-limit'] else 'false'),
        'startsecs = %d' % startsecs,
        'stopsignal = %s' % settings['stop-signal'][3:],
        'stopwaitsecs = %d' % whole_seconds(
            'stop-timeout = %g' % settings['stop-timeout'], settings['stop-timeout'], notes),
        'stopasgroup = true',
        'killasgroup = true',
    ]
    out, err = log_paths
    lines += ['stdout_logfile = %s' % value('stdout', out),
              'stdout_logfile_maxbytes = 0']
    if err == out:
        lines.append('redirect_stderr = true')
    else:
        lines += ['stderr_logfile = %s' % value('stderr', err),
                  'stderr_logfile_maxbytes = 0']

    head = ['; The %s service of the buildout in %s (part [%s]).' % (name, base, part),
            '; Generated by buildout_script: change the part and run buildout again.',
            '; supervisord runs the program itself; bin/%sctl does not see it.' % part]
    if notes:
        head += [';', '; Not expressed here:'] + [';   %s' % note for note in notes]
    return '\n'.join(head + lines) + '\n', notes
