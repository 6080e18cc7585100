"""Ferry's Python client: load model weights from a Ferry server (``ferry serve``).

    import ferry
    c = ferry.Client("http://ferry:8080", token="...")   # or FERRY_TOKEN in the environment
    m = c.model("llama:prod")
    m.tensors()                      # [Tensor(name, dtype, shape, file), ...]
    w = m.tensor("lm_head.weight")   # numpy; BF16 as uint16 bits, as_float32=True converts
    m.download("out/", include=["*.safetensors", "*.json"])

Every chunk received is checked against its SHA-256 id before it is used, and the version's description against the
version and snapshot objects, fetched by their ids (see README.md).
"""

from .client import PART_SUFFIX, Client, Model, Tensor, part_name
from .errors import (FerryConnectionError, FerryError, FerryHTTPError, FerryIntegrityError, FerryNotFoundError,
                     FerryTransferError)

__version__ = "0.1.0"

__all__ = ["Client", "Model", "Tensor", "PART_SUFFIX", "part_name", "FerryError", "FerryHTTPError",
           "FerryConnectionError", "FerryTransferError", "FerryIntegrityError", "FerryNotFoundError", "__version__"]
