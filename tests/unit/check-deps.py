#!/usr/bin/env python3
"""Check that the daemon's files call each other in one direction.

Reads the object files of tshmd_core (nm), makes the file-level graph
"a.c calls a function defined in b.c", and fails, printing a cycle, if
the graph has one. With --print, prints each file with the files it
calls, bottom up (what README.md's "Layout" shows). Objects that are not
tshmd_core's own (proto/'s, linked into it) are ignored.

Usage: check-deps.py [--print] OBJECT...
"""
import os
import subprocess
import sys


def symbols(obj):
    out = subprocess.run(["nm", obj], check=True, capture_output=True, text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRC":
            defined.add(parts[2])
    return defined, undefined


def name(obj):
    base = os.path.basename(obj)
    return base[: -len(".o")] if base.endswith(".o") else base


def daemon_objects(objs):
    """Only the daemon's own objects: tshmd_core also holds proto/'s, whose
    file names (reply.c, sync.c) repeat the daemon's."""
    return [o for o in objs if os.sep + "tshmd_core.dir" + os.sep in o]


def find_cycle(graph):
    """A cycle as a list of nodes (first == last), or None."""
    state = {}  # 1: on the stack, 2: done
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def print_layers(graph):
    """Each file with what it calls, bottom up: a file comes after every
    file it calls. Only called by others and calling none, log.c is left
    out of the lists to keep them short."""
    done, order = set(), []

    def visit(n):
        if n in done:
            return
        done.add(n)
        for m in sorted(graph[n]):
            visit(m)
        order.append(n)

    for n in sorted(graph):
        visit(n)
    for n in order:
        deps = sorted(m for m in graph[n] if m != "log.c")
        print("%-12s -> %s" % (n, " ".join(deps) if deps else "(nothing)"))


def main(argv):
    printing = "--print" in argv
    objs = daemon_objects([a for a in argv if a != "--print"])
    if not objs:
        print(__doc__, file=sys.stderr)
        return 2
    syms = {name(o): symbols(o) for o in objs}
    owner = {}
    for n, (defined, _) in syms.items():
        for s in defined:
            owner[s] = n
    graph = {n: set() for n in syms}
    for n, (_, undefined) in syms.items():
        for s in undefined:
            m = owner.get(s)
            if m is not None and m != n:
                graph[n].add(m)
    cycle = find_cycle(graph)
    if printing and not cycle:
        print_layers(graph)
    if cycle:
        print("dependency cycle in daemon/: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    if not printing:
        print("daemon/: %d files, no dependency cycle" % len(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
