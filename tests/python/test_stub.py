"""The type stub (client/python/tshm/__init__.pyi) names exactly what the module has."""

import ast
import os

import tshm

STUB = os.path.join(os.path.dirname(__file__), "..", "..", "client", "python", "tshm", "__init__.pyi")
HELPER_TYPES = {"DTypeLike", "ShapeLike", "SegmentInfo", "DaemonInfo", "StreamInfo", "TensorSpec",
                "MirrorInfo"}


def stub_names():
    tree = ast.parse(open(STUB).read())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
        elif isinstance(node, ast.Assign):
            top.update(t.id for t in node.targets)
        if isinstance(node, ast.ClassDef):
            names = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            for base in node.bases:  # a stub-only base, such as _StreamBase
                if isinstance(base, ast.Name) and base.id in classes:
                    names |= classes[base.id]
            classes[node.name] = names
    return top, classes


def public(names):
    return {n for n in names if not n.startswith("_") or n in ("__version__",)}


def test_stub_names_the_module():
    top, classes = stub_names()
    assert public(dir(tshm)) == public(top) - HELPER_TYPES
    for cls in (tshm.Client, tshm.Segment, tshm.Write, tshm.Read, tshm.Stream, tshm.Loan, tshm.Subscriber,
                tshm.Frame, tshm.Group):
        have = {n for n in dir(cls) if not n.startswith("_")} | \
            {n for n in ("__enter__", "__exit__", "__array__", "__dlpack__",
                         "__dlpack_device__", "__array_interface__", "__len__", "__contains__",
                         "__iter__") if hasattr(cls, n)}
        stub = {n for n in classes[cls.__name__] if not n.startswith("_")} | \
            {n for n in classes[cls.__name__] if n in have}
        assert have == stub, (cls, have ^ stub)
