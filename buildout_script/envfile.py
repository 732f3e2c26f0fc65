"""``environment-file``: KEY=VALUE lines read at every start, never copied into bin/.

Secrets belong here rather than in ``environment``, whose values are written
into the generated scripts (readable by anyone who can read bin/).  When root
starts a service for another ``user``, the file must be a regular file owned
by root or that user that neither group nor others may read or write;
anything else is refused, so a password file left world-readable, or one
another account could rewrite, is never handed on.

Error messages name the path and the line number, never a line's text: that
text may be a secret.
"""

import os
import stat

from . import config
from . import trusted

LIMIT = 1 << 20         # bytes; an environment is small, a FIFO or a log is not


class EnvironmentFileError(Exception):
    """The file cannot be used; the message says why and what to do."""


def read(path, account=None):
    """The variables of the file at ``path`` as a dict.

    ``account`` (a passwd entry) is the user root starts the program as, or
    None when the program runs as whoever runs the command."""
    fd = _open(path)
    try:
        st = os.fstat(fd)
        if account is not None:
            _refuse_if_exposed(path, st, account)
        data = b''
        while len(data) <= LIMIT:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > LIMIT:
        raise EnvironmentFileError('the environment file %s is larger than %d bytes'
                                   % (path, LIMIT))
    return parse(path, data.decode('utf-8', 'surrogateescape'))


def parse(path, text):
    env = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            env.update(config.parse_environment(line))
        except config.SettingError:
            raise EnvironmentFileError('the environment file %s, line %d: expected'
                                       ' KEY=VALUE' % (path, number))
    return env


def _open(path):
    try:
        return trusted.open_file(path, os.O_RDONLY, what='the environment file',
                                 fix='name the file itself')
    except trusted.Untrusted as e:
        raise EnvironmentFileError(str(e))
    except FileNotFoundError:
        raise EnvironmentFileError('the environment file %s does not exist; create it'
                                   ' (KEY=VALUE lines) or remove the option' % path)
    except OSError as e:
        raise EnvironmentFileError('cannot read the environment file %s: %s'
                                   % (path, e.strerror))


def _refuse_if_exposed(path, st, account):
    if st.st_uid not in (0, account.pw_uid):
        raise EnvironmentFileError(
            'the environment file %s belongs to uid %d; it must belong to root or %s'
            ' (chown root %s)' % (path, st.st_uid, account.pw_name, path))
    if st.st_mode & 0o077:
        raise EnvironmentFileError(
            'the environment file %s is open to group or others (mode %03o); it may'
            ' hold secrets: chmod 600 %s' % (path, stat.S_IMODE(st.st_mode), path))


def digest(path):
    """A SHA-256 of the file's variables (not its bytes: a new comment is no
    change), or None when this user cannot read it."""
    try:
        env = read(path)
    except EnvironmentFileError:
        return None
    import hashlib
    return hashlib.sha256(repr(sorted(env.items())).encode('utf-8', 'surrogateescape')
                          ).hexdigest()
