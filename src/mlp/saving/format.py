"""The mlp file format: a JSON header and raw tensors in one file, no pickle. It knows no model.

File layout
-----------
The file follows the `safetensors <https://github.com/huggingface/safetensors>`_ layout, so any
safetensors reader can open it; it is written by the small code below (no dependency)::

    bytes 0..7       N, the header length: unsigned 64-bit little-endian integer
    bytes 8..8+N     the header: UTF-8 JSON, padded with spaces so the data starts at a
                     multiple of 8 bytes
    bytes 8+N..end   the tensor data: raw little-endian values, C order, back to back

The header maps each tensor name to ``{"dtype", "shape", "data_offsets"}``: ``dtype`` is one of
``"F32"``, ``"F64"``, ``"I64"``, ``"U8"``; ``shape`` a list of non-negative integers;
``data_offsets`` ``[begin, end]`` relative to the start of the data, with
``end - begin == itemsize * prod(shape)``. The tensors tile the data exactly: no overlap, no gap,
nothing after the last one.

The header's ``"__metadata__"`` entry maps strings to strings, as safetensors requires::

    {"format": "mlp", "format_version": "1", "mlp_version": "0.1.0", "config": "<JSON>",
     "sha256": "<64 hex digits>"}

where ``config`` is the JSON document of the file's writer (for models, see
:mod:`mlp.saving.model`) and ``sha256`` the SHA-256 digest of the UTF-8 bytes of ``config``
followed by the whole data section: loading recomputes it and refuses a file whose config or
tensor bytes changed after it was written (a flipped byte, a torn copy). Files written before
the digest existed have no ``sha256`` entry; they load without this check (a reader older than
the digest ignores it: the layout is unchanged).

Loading never unpickles or evaluates anything, and it opens only regular files (a FIFO, a
device or a folder is refused before anything is read from it). The header is parsed as JSON
and checked, the writer's config is checked (``check_config``), then every tensor's dtype,
shape and byte range against the file's real size and against what the config allows
(``check_layout``), all before a tensor byte is read: a header that promises more data than the
file holds, or other tensors than its config implies, is refused without reading or allocating
them. Each tensor is then read straight into its final array (:meth:`io.RawIOBase.readinto`),
so loading holds the tensors once, not the data section and a copy. Every malformed, truncated
or hostile file gives a ``ValueError`` saying what is wrong.

Writing goes to a temporary file in the target's folder, which is flushed, synced to disk and
then renamed onto the target (:func:`os.replace`, atomic): a crash or an error mid-save leaves any
previous file as it was. An error removes its temporary file; a process killed mid-save cannot,
so the temporary file's name carries the writer's host and process id
(``.<target>.<host>.<pid>.<random>.tmp``) and the next save to the same target removes those
whose process no longer runs on this host.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import stat
import sys
import tempfile
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple

import numpy as np

from .._version import __version__

FORMAT = "mlp"
"""The value of ``__metadata__["format"]`` in every file this module writes."""

FORMAT_VERSION = "1"
"""The layout version written; loading refuses other versions."""

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""Largest header accepted on load (as safetensors: 100 MB)."""

CHECKSUM_KEY = "sha256"
"""The ``__metadata__`` entry holding the digest of the config and the data (see above)."""

Layout = Dict[str, Tuple[np.dtype, Tuple[int, ...]]]
"""What a file's tensors are, before they are read: ``{name: (dtype, shape)}``."""

_DTYPES: Dict[str, np.dtype] = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
}
_DTYPE_CODES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
                np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8"}


# ====================================================================== writing
def _encode_header(config: Dict[str, Any], tensors: List[Tuple[str, np.ndarray]]
                   ) -> Tuple[bytes, List[np.ndarray]]:
    """The 8-byte length and the padded JSON header, and the arrays to write after it."""
    try:
        config_text = json.dumps(config, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"save: the configuration holds a NaN or infinite number ({exc})"
                         ) from exc
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "mlp_version": str(__version__), "config": config_text}
    header: Dict[str, Any] = {"__metadata__": metadata}
    digest = hashlib.sha256(config_text.encode("utf-8"))
    arrays, offset = [], 0
    for name, array in tensors:
        code = _DTYPE_CODES.get(np.dtype(array.dtype).newbyteorder("="))
        if code is None:
            raise TypeError(f"save: tensor {name!r} has unsupported dtype {array.dtype}")
        array = np.ascontiguousarray(array, dtype=_DTYPES[code])
        header[name] = {"dtype": code, "shape": [int(d) for d in array.shape],
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
        if array.size:
            digest.update(memoryview(array.reshape(-1)).cast("B"))
    metadata[CHECKSUM_KEY] = digest.hexdigest()
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text, arrays


def _write_tensor(stream, array: np.ndarray) -> None:
    """Write one C-contiguous little-endian array's bytes."""
    if array.size:
        stream.write(memoryview(array.reshape(-1)).cast("B"))


def write_file(path, config: Dict[str, Any], tensors: List[Tuple[str, np.ndarray]]) -> None:
    """Write header and tensors to a temporary file in the same folder, then rename it."""
    header, arrays = _encode_header(config, tensors)

    def write(handle) -> None:
        handle.write(header)
        for array in arrays:
            _write_tensor(handle, array)

    write_atomically(path, write)


def write_atomically(path, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace the file ``path`` with what ``write(binary_handle)`` writes, so that
    a crash leaves either the old file or the new one, never a part: the bytes go to a
    temporary file in the same folder, are synced, get the replaced file's mode (or the
    default for a new file), and the temporary file is renamed over ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    prefix = "." + os.path.basename(path) + "."
    remove_stale_temporaries(directory, prefix)
    handle = tempfile.NamedTemporaryFile(mode="wb", delete=False, dir=directory,
                                         prefix=f"{prefix}{_host()}.{os.getpid()}.",
                                         suffix=".tmp")
    temporary = handle.name
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _host() -> str:
    """This host's name as it goes into temporary file names (letters, digits, ``-``, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"


def _process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs on this host (POSIX; elsewhere: never known)."""
    if pid <= 0 or not hasattr(os, "kill") or sys.platform.startswith("win"):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


def remove_stale_temporaries(directory: str, prefix: str) -> int:
    """Remove the temporary files ``<prefix><host>.<pid>.<random>.tmp`` in ``directory`` that
    saves killed mid-write left: those of this host whose process is gone. Returns how many."""
    host, removed = _host(), 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix):-len(".tmp")].rsplit(".", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if _process_gone(int(parts[1])):
            try:
                os.unlink(os.path.join(directory, name))
                removed += 1
            except OSError:
                pass
    return removed


def _file_mode(path: str) -> int:
    """The mode of the file being replaced, or the default for a new file (0o666 & ~umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = None
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError, IndexError):
        umask = None
    if umask is None:
        umask = 0o022
    return 0o666 & ~umask


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    if sys.platform.startswith("win"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ====================================================================== reading
def describe(path) -> str:
    return f"{os.fspath(path)!s}"


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _parse_json(data: bytes, what: str, path) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as exc:
        raise ValueError(f"{describe(path)}: {what} is not valid UTF-8 ({exc}); not a mlp "
                         f"model file") from exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{describe(path)}: {what} is not valid JSON ({exc}); not a mlp model "
                         f"file") from exc


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def open_regular_file(path, what: str = "a mlp model file") -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file.

    It is opened without blocking (``O_NONBLOCK``: opening a FIFO for reading would otherwise
    wait for a writer) and refused unless it is a regular file: a FIFO, a socket, a device or
    a directory gives a ``ValueError`` naming what it is, before anything is read from it.

    Raises
    ------
    FileNotFoundError, PermissionError, OSError
        As :func:`open` does.
    ValueError
        If ``path`` is not a regular file.
    """
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise ValueError(f"{describe(path)}: is a directory, expected {what}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{describe(path)}: is {_kind_of(mode)}, not a regular file; "
                             f"expected {what}")
        if flags & getattr(os, "O_NONBLOCK", 0) and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind_of(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def read_file(path, check_config: Callable[[Any, Any], None],
              check_layout: Optional[Callable[[Any, Layout, Any],
                                              Optional[Dict[str, np.ndarray]]]] = None
              ) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Read and check a file; return its config and its tensors (native-order arrays).

    ``check_config(config, path)`` checks the writer's JSON document and
    ``check_layout(config, layout, path)`` the tensors it lists (:data:`Layout`), both before a
    tensor byte is read; either raises ``ValueError`` to refuse the file. ``check_layout`` may
    return arrays to read tensors into, by name (C-contiguous, of the tensor's dtype and
    shape: the caller's final buffers); the others are read into new arrays. A refused
    checksum leaves such a buffer holding the file's bytes.
    """
    where = describe(path)
    with open_regular_file(path) as stream:
        size = os.fstat(stream.fileno()).st_size
        prefix = stream.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{where}: file too short ({len(prefix)} bytes) to be a mlp model "
                             f"file: it must start with an 8-byte header length")
        header_length = int.from_bytes(prefix, "little")
        if header_length > MAX_HEADER_BYTES:
            raise ValueError(f"{where}: header length {header_length} is absurd (more than "
                             f"{MAX_HEADER_BYTES} bytes); the file is corrupt or not a mlp "
                             f"model file")
        if header_length > size - 8:
            raise ValueError(f"{where}: header length {header_length} is larger than the rest "
                             f"of the file ({size - 8} bytes); the file is truncated or corrupt")
        header_bytes = stream.read(header_length)
        if len(header_bytes) != header_length:
            raise ValueError(f"{where}: file truncated inside the header")
        header = _parse_json(header_bytes, "the header", path)
        del header_bytes
        metadata = _check_metadata(header, path)
        config = _parse_json(metadata["config"], "__metadata__['config']", path)
        check_config(config, path)
        entries = _check_entries(header, size - 8 - header_length, path)
        destinations = None
        if check_layout is not None:
            destinations = check_layout(config, {name: (dtype.newbyteorder("="), tuple(shape))
                                                 for _, _, name, dtype, shape, _ in entries},
                                        path)
        digest = hashlib.sha256(metadata["config"].encode("utf-8"))
        tensors = _read_tensors(stream, entries, digest, path, destinations or {})
    expected = metadata.get(CHECKSUM_KEY)
    if expected is not None and digest.hexdigest() != expected.lower():
        raise ValueError(f"{where}: checksum mismatch: the config or the tensor bytes changed "
                         f"after the file was written (sha256 {digest.hexdigest()[:16]}..., the "
                         f"file records {expected[:16]}...); the file is corrupt")
    return config, tensors


def _check_metadata(header: Any, path) -> Dict[str, str]:
    """Take ``__metadata__`` out of the parsed header and check it; return it."""
    where = describe(path)
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header is not a JSON object; not a mlp model file")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or "format" not in metadata:
        raise ValueError(f"{where}: missing format marker (__metadata__['format']); not a mlp "
                         f"model file")
    if metadata["format"] != FORMAT:
        raise ValueError(f"{where}: unknown format marker {metadata['format']!r}; expected "
                         f"{FORMAT!r}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"{where}: __metadata__ must map strings to strings")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{where}: unsupported format version "
                         f"{metadata.get('format_version')!r}; this mlp reads version "
                         f"{FORMAT_VERSION!r}")
    if "config" not in metadata:
        raise ValueError(f"{where}: missing __metadata__['config']")
    checksum = metadata.get(CHECKSUM_KEY)
    if checksum is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", checksum):
        raise ValueError(f"{where}: __metadata__[{CHECKSUM_KEY!r}]: expected 64 hexadecimal "
                         f"digits, got {checksum!r:.80}; the file is corrupt")
    return metadata


def _check_entries(header: Dict[str, Any], data_size: int, path) -> List[Tuple]:
    """Check every tensor entry and that they tile the ``data_size`` bytes after the header;
    return ``(begin, end, name, dtype, shape, count)`` in file order."""
    where = describe(path)
    entries = []
    for name, entry in header.items():
        label = f"{where}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{label}: expected an object with exactly the keys 'dtype', "
                             f"'shape' and 'data_offsets', got {entry!r:.200}")
        code = entry["dtype"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise ValueError(f"{label}: unknown dtype {code!r:.100}; expected one of "
                             f"{sorted(_DTYPES)}")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
            raise ValueError(f"{label}: shape must be a list of non-negative integers, got "
                             f"{shape!r:.200}")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(is_int(o) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise ValueError(f"{label}: data_offsets must be [begin, end] with 0 <= begin <= "
                             f"end, got {offsets!r:.200}")
        begin, end = offsets
        if end > data_size:
            raise ValueError(f"{label}: data_offsets {offsets} out of range: the data holds "
                             f"{data_size} bytes (file truncated or corrupt)")
        dtype = _DTYPES[code]
        count = math.prod(shape)
        if end - begin != count * dtype.itemsize:
            raise ValueError(f"{label}: data_offsets {offsets} span {end - begin} bytes but "
                             f"{code} with shape {shape} needs {count * dtype.itemsize}")
        entries.append((begin, end, name, dtype, shape, count))
    entries.sort(key=lambda e: (e[0], e[1]))
    expected = 0
    for begin, end, name, _, _, _ in entries:
        if begin < expected:
            raise ValueError(f"{where}: tensor {name!r} overlaps the previous tensor (bytes "
                             f"{begin}..{end})")
        if begin > expected:
            raise ValueError(f"{where}: unused bytes {expected}..{begin} before tensor "
                             f"{name!r}; the file is corrupt")
        expected = end
    if expected != data_size:
        raise ValueError(f"{where}: {data_size - expected} trailing bytes after the last "
                         f"tensor; the file is corrupt")
    return entries


def _read_tensors(stream: BinaryIO, entries: List[Tuple], digest, path,
                  destinations: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Read each checked tensor of ``entries`` (in file order, right after the header) into
    its array of ``destinations`` or a new one, feeding its bytes to ``digest``."""
    where = describe(path)
    native = {}
    for _, end, name, dtype, shape, count in entries:
        array = destinations.get(name)
        if not (isinstance(array, np.ndarray) and array.dtype == dtype and dtype.isnative
                and array.shape == tuple(shape) and array.flags.c_contiguous
                and array.flags.writeable):
            try:
                array = np.empty(count, dtype=dtype)
            except (ValueError, MemoryError) as exc:
                raise ValueError(f"{where}: tensor {name!r}: shape {shape!r:.200} cannot be "
                                 f"read ({exc})") from exc
        view = memoryview(array.reshape(-1)).cast("B")
        done = 0
        while done < len(view):
            got = stream.readinto(view[done:])
            if not got:
                raise ValueError(f"{where}: tensor {name!r}: file truncated while reading "
                                 f"(it shrank after it was opened)")
            done += got
        digest.update(view)
        if not dtype.isnative:
            array = array.byteswap().view(dtype.newbyteorder("="))
        native[name] = array if array.shape == tuple(shape) else array.reshape(shape)
    return native


__all__ = ["CHECKSUM_KEY", "FORMAT", "FORMAT_VERSION", "Layout", "MAX_HEADER_BYTES", "describe",
           "is_int", "open_regular_file", "read_file", "write_atomically", "write_file"]
