"""The account a program runs as (``user``) and the environment it starts with.

A service run as another user gets a clean environment, as ``su -l`` and
systemd give one; a program of our own user gets ours.  Either way the
part's ``environment``, the variables of ``environment-file`` and the mark
(program.mark) come on top.
"""

import os
import pwd

from .program import MARK_VARIABLE, LaunchError, mark


def entry(user):
    """The passwd entry of ``user`` (a name, or a number), or None when
    there is no such user: the one look-up every caller goes through."""
    try:
        return pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        return None


def account_of(user):
    """The passwd entry to run as, or None to stay who we are."""
    if not user:
        return None
    found = entry(user)
    if found is None:
        raise LaunchError('not-configured', 'user %r does not exist on this machine' % user)
    if found.pw_uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        raise LaunchError('permission', 'only root can run the service as user %r;'
                          ' run this command as root or as %s' % (user, user))
    return found


def service_uid(settings):
    """The user the service's processes run as."""
    found = entry(settings['user']) if settings['user'] else None
    return found.pw_uid if found is not None else os.geteuid()


KEPT = ('PATH', 'LANG')


def environment(settings, account, spawned=False, base=None):
    """Ours (or ``base``: that of the command the keeper starts it for) for
    a program of our own user; for another user, as su -l and systemd do, a
    clean one: PATH, LANG, HOME, USER, LOGNAME, SHELL.  Then the part's
    ``environment`` and the mark (a spawned copy's says so, so that sweeping
    up the service's leftovers spares it)."""
    base = os.environ if base is None else base
    if account is None:
        env = dict(base)
    else:
        env = {key: base[key] for key in KEPT if key in base}
        env.setdefault('PATH', '/usr/local/bin:/usr/bin:/bin')
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name,
                   SHELL=account.pw_shell or '/bin/sh')
    env.update(settings['environment'])
    env.update(environment_file(settings, account))
    env[MARK_VARIABLE] = mark(settings).split('=', 1)[1] + (' spawned' if spawned else '')
    return env


def environment_file(settings, account):
    """The variables of ``environment-file``, read afresh at every start."""
    path = settings.get('environment-file')
    if not path:
        return {}
    from . import envfile
    try:
        return envfile.read(path, account)
    except envfile.EnvironmentFileError as e:
        raise LaunchError('not-configured', str(e))
