"""Opening directories and files that another user may have tampered with.

A root-run command must not be led elsewhere by a symlink that someone else
planted, in any component of a path, nor act on a file someone else wrote.
So a directory is opened one component at a time, each relative to the
descriptor of the one before, without following symlinks; a symlink is
followed only where nobody but us (or root) could have put it.  The caller
then works relative to the descriptor: a path swapped after the walk changes
nothing.
"""

import errno
import os
import stat

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40


class Untrusted(Exception):
    """A path we refuse to use; the message is the one line to say."""


def safe_by(st, owners):
    """True if nobody but ``owners`` (and root) can change the entries of the
    directory ``st`` describes: owned by one of them, writable by no group
    or others unless sticky (where others cannot replace what we own)."""
    if st.st_uid != 0 and st.st_uid not in owners:
        return False
    return not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)) or bool(st.st_mode & stat.S_ISVTX)


def open_directory(path, create=False, mode=0o755):
    """A descriptor of the directory ``path`` (absolute), created if needed
    and ``create``.  Symlinks on the way are followed only in directories
    safe_by the effective user, and only when owned by it or root.

    Raises FileNotFoundError (missing, not ``create``), Untrusted, OSError.
    """
    me = {os.geteuid()}
    todo = [part for part in path.split('/') if part and part != '.']
    fd = os.open('/', DIRECTORY_FLAGS)
    links = 0
    try:
        while todo:
            part = todo.pop(0)
            try:
                child = os.open(part, DIRECTORY_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                todo.insert(0, part)
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = _link_target(fd, part, path, me)
                links += 1
                if links > MAX_LINKS:
                    raise Untrusted('%s: too many levels of symbolic links' % path)
                if target.startswith('/'):
                    os.close(fd)
                    fd = os.open('/', DIRECTORY_FLAGS)
                todo[0:0] = [p for p in target.split('/') if p and p != '.']
                continue
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _link_target(fd, part, path, me):
    """What the symlink ``part`` in directory ``fd`` points to, if we may follow it."""
    try:
        link = os.stat(part, dir_fd=fd, follow_symlinks=False)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path)
    if not stat.S_ISLNK(link.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, 'not a directory: %s' % part, path)
    if not safe_by(os.fstat(fd), me) or (link.st_uid != 0 and link.st_uid not in me):
        raise Untrusted('%s: %s is a symlink another user could have planted (uid %d);'
                        ' refusing to follow it (use the real path)' % (path, part, link.st_uid))
    return os.readlink(part, dir_fd=fd)


def owner_name(uid):
    import pwd
    try:
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return 'uid %d' % uid


def refuse_directory(path, st, owners, what, sticky_ok=True):
    """The one line refusing the directory ``st`` (None if it is safe).
    ``sticky_ok=False``: a sticky dir others can write is refused too, since
    they can plant the files we have not made yet."""
    writers = 'everyone' if st.st_mode & stat.S_IWOTH else 'its group'
    if safe_by(st, owners) and (sticky_ok or not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return None
    if st.st_uid != 0 and st.st_uid not in owners:
        me = 'root' if os.geteuid() == 0 else '%s or root' % owner_name(os.geteuid())
        return ('the %s %s belongs to %s, who could forge what is in it; use a directory'
                ' owned by %s' % (what, path, owner_name(st.st_uid), me))
    if st.st_mode & stat.S_ISVTX:
        return ('the %s %s is writable by %s (sticky: others cannot replace our files,'
                ' but can plant the ones not made yet); use a directory only its owner'
                ' can write' % (what, path, writers))
    return ('the %s %s is writable by %s without the sticky bit; use a directory only'
            ' its owner can write (chmod go-w %s)' % (what, path, writers, path))


def refuse_file(path, st, owners):
    """The one line refusing the state file ``st`` (None if it is one we may trust)."""
    if not stat.S_ISREG(st.st_mode):
        return '%s is not a regular file; refusing to use it (remove it)' % path
    if st.st_uid != 0 and st.st_uid not in owners:
        return ('%s belongs to %s, who could have forged it; refusing to trust it'
                ' (remove it)' % (path, owner_name(st.st_uid)))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return ('%s is writable by others; refusing to trust it (remove it, or chmod go-w)'
                % path)
    # No link left is fine: the file was replaced (renamed over) since it was
    # opened, and what is read is the whole version before.  More than one
    # could be a link to anyone's file.
    if st.st_nlink > 1:
        return '%s has %d hard links; refusing to use it (remove it)' % (path, st.st_nlink)
    return None


OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def open_file(path, flags, mode=0o644, dir_fd=None, what='', fix='remove it'):
    """A descriptor of the file ``path`` as someone else may have planted it
    -- the one way every file another user could reach is opened: never
    through a symlink, never blocking on a FIFO, and only a regular file
    with at most one link (a hard link could be anyone's file).  With
    ``dir_fd`` (a directory opened safely) the base name is opened relative
    to it.  ``what`` names the file in the refusal ("the log").  The
    descriptor blocks again once checked.  Raises Untrusted (the one line
    to say, ending in ``fix``) or OSError (FileNotFoundError ...)."""
    name = ('%s %s' % (what, path)).strip()
    try:
        fd = os.open(os.path.basename(path) if dir_fd is not None else path,
                     flags | OPEN_FLAGS, mode, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Untrusted('%s is a symlink; refusing to follow it (%s)' % (name, fix))
        if e.errno == errno.ENXIO:          # a FIFO nobody reads, opened to write
            raise Untrusted('%s is not a regular file; refusing to use it (remove it)' % name)
        raise OSError(e.errno, e.strerror, path)
    st = os.fstat(fd)
    why = None
    if not stat.S_ISREG(st.st_mode):
        why = 'is not a regular file; refusing to use it (remove it)'
    elif st.st_nlink > 1:
        why = 'has %d hard links; refusing to use it (remove it)' % st.st_nlink
    if why:
        os.close(fd)
        raise Untrusted('%s %s' % (name, why))
    os.set_blocking(fd, True)
    return fd
