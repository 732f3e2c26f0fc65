"""A systemd unit for a service part: ``systemd = user`` or ``systemd = system``.

systemd runs the program itself (``ExecStart``), so it is the keeper: no
ctl, no PID file, no cron check in between.  Every setting is translated;
one systemd cannot express is named in a comment at the top of the unit and
returned as a note for buildout's output, never dropped silently.

``unit()`` only renders text; the service recipe writes the file and, with
``systemd-install = true``, links it where systemctl finds it (``link_path``).
With ``listen``, ``socket_unit()`` renders ``NAME.socket`` beside it: systemd
then holds the sockets and passes them as our keeper does (LISTEN_FDS).
"""

import os
import shutil

from buildout_script import account

SCOPES = ('user', 'system')
SAFE = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
                 '/._-+=:,@')
C_ESCAPES = {'\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r'}


def escape_specifiers(text):
    """systemd expands ``%x`` specifiers in most settings: keep a ``%`` literal."""
    return text.replace('%', '%%')


def quote(word, command=False):
    """One word of ``ExecStart=``, ``Environment=`` or the like, as systemd reads it.

    Double-quoted with C escapes where needed; ``%`` doubled (specifiers) and,
    in a ``command`` line, ``$`` doubled (variable expansion).
    """
    word = escape_specifiers(word)
    if command:
        word = word.replace('$', '$$')
    if word and all(c in SAFE for c in word):
        return word
    if word == ';':                     # a lone ; separates command lines
        return '\\;'
    return '"%s"' % ''.join(C_ESCAPES.get(c) or (
        '\\x%02x' % ord(c) if ord(c) < 0x20 or ord(c) == 0x7f else c) for c in word)


def command_line(argv):
    return ' '.join(quote(word, command=True) for word in argv)


def seconds(value):
    """A time span as systemd reads it: ``10``, ``2.5``, ``86400`` (never ``1e+06``)."""
    return ('%.6f' % value).rstrip('0').rstrip('.')


def is_current_user(user):
    if not user:
        return True
    entry = account.entry(user)
    return entry is not None and entry.pw_uid == os.geteuid()


def kill_command():
    return shutil.which('kill') or '/bin/kill'


def unit(settings, argv, scope, part, base, log_paths, mark):
    """(text, notes) of ``NAME.service``.

    ``argv`` is the program's command line (absolute where it could be
    resolved), ``log_paths`` its (stdout, stderr) files, ``mark`` the
    ``VARIABLE=VALUE`` every program of ours carries.
    """
    notes = []
    name = settings['name']
    ready = (settings['ready'] or '').strip()
    notify = ready.lower() == 'notify'
    if ready and not notify:
        notes.append('ready = %s: systemd does not run this probe; the unit is'
                     ' Type=exec (started once the program is executed); use'
                     ' ready = notify and sd_notify(READY=1) for systemd to wait'
                     % ready)
    if settings['check']:
        notes.append('check = %s: systemd runs no health probe; only a death is'
                     ' restarted' % settings['check'])
    user = settings['user']
    if scope == 'user' and not is_current_user(user):
        notes.append('user = %s: a user manager runs everything as its own user;'
                     ' use systemd = system to switch user' % user)

    unit_lines = ['Description=%s service (buildout %s, part %s)' % (
        name, escape_specifiers(base), part)]
    if scope == 'system':
        unit_lines.append('After=network.target')
    if settings.get('listen'):
        unit_lines += ['# the sockets (listen) are held by %s.socket' % name,
                       'Requires=%s.socket' % name, 'After=%s.socket' % name]
        if settings.get('restart-overlap'):
            notes.append('restart-overlap: systemd stops the old program before it starts'
                         ' the new one; connections wait on the socket meanwhile')
    limit = settings['restart-limit']
    if limit:
        unit_lines += [
            '# the first start and %d restarts within %g seconds' % (
                limit, settings['restart-window']),
            'StartLimitIntervalSec=%s' % seconds(settings['restart-window']),
            'StartLimitBurst=%d' % (limit + 1),
        ]

    service = ['Type=%s' % ('notify' if notify else 'exec'),
               'ExecStart=%s' % command_line(argv),
               'WorkingDirectory=%s' % escape_specifiers(settings['directory'])]
    if settings.get('listen'):
        service.append('Sockets=%s.socket' % name)
    if notify:
        service.append('TimeoutStartSec=%s' % seconds(settings['start-timeout']))
    for key, value in sorted(settings['environment'].items()):
        service.append('Environment=%s' % quote('%s=%s' % (key, value)))
    service.append('Environment=%s' % quote(mark))
    if settings.get('environment-file'):
        service.append('EnvironmentFile=%s' % escape_specifiers(settings['environment-file']))
        notes.append('environment-file = %s: systemd reads it with rules of its own'
                     ' (quotes around a value are removed, a backslash at the end'
                     ' continues the line); plain KEY=VALUE lines mean the same to both'
                     % settings['environment-file'])
    if user and scope == 'system':
        service.append('User=%s' % user)
    if settings['umask'] is not None:
        service.append('UMask=%04o' % settings['umask'])
    if settings.get('limits') or settings.get('nice') is not None \
            or settings.get('oom-score-adjust') is not None or settings.get('memory-max'):
        from .. import limits
        service += limits.systemd_lines(settings)
    if settings.get('memory-max'):
        notes.append('memory-max = %d: systemd\'s MemoryMax= counts all the memory of the'
                     ' unit\'s cgroup (its page cache too) and has the kernel kill it at the'
                     ' limit at once%s' % (settings['memory-max'],
                                          '; memory-max-for = %g has no equivalent'
                                          % settings['memory-max-for']
                                          if settings['memory-max-for'] else ''))
    out, err = log_paths
    service += ['StandardOutput=append:%s' % escape_specifiers(out),
                'StandardError=append:%s' % escape_specifiers(err)]
    service += [
        '# the stop schedule: stop-signal to every process of the service,'
        ' KILL after stop-timeout',
        'KillMode=control-group',
        'KillSignal=%s' % settings['stop-signal'],
        'TimeoutStopSec=%s' % seconds(settings['stop-timeout']),
    ]
    if settings['reload-signal']:
        service.append('ExecReload=%s -%s $MAINPID' % (
            quote(kill_command(), command=True), settings['reload-signal'][3:]))
    if limit:
        service += ['Restart=always', 'RestartSec=%s' % seconds(settings['restart-delay'])]
        notes.append('restart-delay = %g: systemd waits RestartSec=%g before every'
                     ' restart; the check restarts at once the first time and doubles'
                     ' the delay with each restart in the window'
                     % (settings['restart-delay'], settings['restart-delay']))
    else:
        service.append('Restart=no')

    head = [
        '# %s.service: the %s service of the buildout in %s (part [%s]).' % (
            name, name, base, part),
        '# Generated by buildout_script: change the part and run buildout again.',
        '# systemd starts the program itself and knows its PID (no PIDFile=);',
        '# bin/%sctl does not see a service that systemd runs.' % part,
    ]
    if notes:
        head.append('#')
        head.append('# Not expressed in this unit:')
        head += ['#   %s' % note for note in notes]
    wanted_by = 'default.target' if scope == 'user' else 'multi-user.target'
    text = '\n'.join(head + ['', '[Unit]'] + unit_lines + ['', '[Service]'] + service
                     + ['', '[Install]', 'WantedBy=%s' % wanted_by]) + '\n'
    return text, notes


def socket_unit(settings, part, base):
    """(text, notes) of ``NAME.socket`` for ``listen``: the same addresses,
    mode and owner, and the same LISTEN_FDNAMES (the service's name)."""
    from buildout_script import sockets
    name, notes = settings['name'], []
    lines = []
    for address in sockets.parse_all(' '.join(settings['listen'])):
        if address.kind == 'unix':
            lines.append('ListenStream=%s' % escape_specifiers(address.path))
            continue
        if address.kind == 'inet':
            try:
                sockets.socket.inet_pton(sockets.socket.AF_INET, address.host)
            except OSError:
                notes.append('listen = %s: systemd listens on numeric addresses only;'
                             ' this unit listens on port %d of every address'
                             % (address.text, address.port))
                lines.append('ListenStream=%d' % address.port)
                continue
        lines.append('ListenStream=%s' % address.text)
    if any(line.startswith('ListenStream=/') for line in lines):
        lines.append('SocketMode=%04o' % settings.get('listen-mode', 0o666))
        if settings['user']:
            lines.append('SocketUser=%s' % settings['user'])
    lines += ['FileDescriptorName=%s' % name, 'Service=%s.service' % name]
    head = ['# %s.socket: the sockets of %s.service (part [%s] of the buildout in %s).'
            % (name, name, part, base),
            '# Generated by buildout_script: change the part and run buildout again.']
    if notes:
        head += ['#', '# Not expressed in this unit:'] + ['#   %s' % n for n in notes]
    text = '\n'.join(head + ['', '[Unit]', 'Description=%s sockets' % name, '',
                             '[Socket]'] + lines + ['', '[Install]',
                                                    'WantedBy=sockets.target']) + '\n'
    return text, notes


def link_directory(scope):
    """Where ``systemctl --user`` or the system manager looks for units of ours."""
    if scope == 'system':
        return '/etc/systemd/system'
    config = os.environ.get('XDG_CONFIG_HOME') or os.path.join(
        os.path.expanduser('~'), '.config')
    return os.path.join(config, 'systemd', 'user')


def link_path(scope, unit_path):
    return os.path.join(link_directory(scope), os.path.basename(unit_path))


class LinkError(Exception):
    """The link cannot be made; the message says what is in the way."""


def install_link(link, target):
    """Link ``link`` to ``target``; a link of ours already there is kept."""
    if os.path.islink(link) and os.readlink(link) == target:
        return
    if os.path.lexists(link):
        raise LinkError('%s already exists and is not a link to %s; remove it or set'
                        ' systemd-install = false' % (link, target))
    try:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
    except OSError as e:
        raise LinkError('cannot link %s to %s: %s' % (link, target, e.strerror))


def remove_link(link, target):
    """Remove ``link`` if it still is our link to ``target``; leave anything else."""
    if os.path.islink(link) and os.readlink(link) == target:
        os.unlink(link)
