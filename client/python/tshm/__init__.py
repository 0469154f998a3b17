"""Named N-d arrays in shared memory, seen as numpy arrays and torch tensors by
every process at once, zero-copy.

The calls are implemented in the extension module tshm._tshm and re-exported
here; the pure-Python parts of the binding live beside this file. See
help(tshm._tshm) for the overview, and tshm/__init__.pyi for every call's
types.
"""

from tshm._tshm import *  # noqa: F401,F403  (the public API is the extension's)
from tshm._tshm import _Mapping, __doc__, __version__  # noqa: F401
from tshm._reduce import TensorOrigin, tensor_origin  # noqa: F401,E402
from tshm._group import (  # noqa: F401,E402
    group_metadata,
    load_arrays,
    load_state_dict,
    save_arrays,
    save_state_dict,
)
