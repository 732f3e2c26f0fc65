"""Which service starts before which: the ``after`` option as an order.

``after`` maps each name to the names it needs running (and ready) first.
Nothing here knows of processes or buildout.
"""


class OrderError(ValueError):
    """An unknown name or a cycle; the message names them."""


def start_order(after, names=None):
    """The names of ``after`` (or only ``names`` and what they need), each
    after the ones it needs: by layers of dependencies, and within a layer
    in the order given."""
    wanted = list(after) if names is None else needed(after, names)
    depths = {}
    for name in wanted:
        depth(after, name, depths)
    index = {name: i for i, name in enumerate(after)}
    return sorted(wanted, key=lambda name: (depths[name], index[name]))


def needed(after, names):
    """``names`` and everything they need, transitively, in a stable order."""
    unknown = [name for name in names if name not in after]
    if unknown:
        raise OrderError('no service %s; the services are %s'
                         % (', '.join(unknown), ', '.join(after)))
    seen = {}
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name not in seen:
            seen[name] = True
            todo.extend(after.get(name, ()))
    return [name for name in after if name in seen]


def depth(after, name, depths, _path=()):
    """How many layers of dependencies lie under ``name`` (0: none)."""
    if name in _path:
        raise OrderError('a cycle in after: %s' % ' -> '.join(_path + (name,)))
    if name not in depths:
        needs = after.get(name, ())
        depths[name] = 1 + max(depth(after, n, depths, _path + (name,))
                               for n in needs) if needs else 0
    return depths[name]


def check(after):
    """Raise OrderError for a name that is not a service, or a cycle."""
    for name, needs in after.items():
        unknown = [n for n in needs if n not in after]
        if unknown:
            raise OrderError('%s is after %s, which is not a service here'
                             % (name, ', '.join(unknown)))
    start_order(after)
