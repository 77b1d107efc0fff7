"""An uploaded ECG (the files of one record) into an :class:`~ecgbyte.ecg.Ecg`, safely.

Accepted, as one request's files:

- a WFDB record: its ``.hea`` header plus the signal files it names (``.dat``, ``.mat``, ``.xyz``);
- one ``.npy`` (the sampling rate comes with the request) or one ``.npz``;
- one ``.zip`` holding a WFDB record (or one ``.npy``/``.npz``); folders inside it are ignored.

The files are written under their own (checked) base names into a fresh
``tempfile.TemporaryDirectory`` that is removed when :func:`read_upload` returns or raises, so
no request leaves a file behind. A WFDB header may only name signal files that were uploaded
with it (no ``../`` or absolute paths: a header must not make the reader open other files on
the server). Zip members are read with a bound on their count and unpacked size, whatever the
archive claims. Every failure is a :class:`~ecgbyte.errors.RequestError` carrying the HTTP
status and a short code, with the temporary folder's path removed from the message.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ecgbyte.ecg import Ecg
from ecgbyte.errors import RequestError

WFDB_HEADER = ".hea"
WFDB_SIGNALS = (".dat", ".mat", ".xyz")
NUMPY = (".npy", ".npz")
ZIP = ".zip"
ACCEPTED = (WFDB_HEADER, *WFDB_SIGNALS, *NUMPY, ZIP)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KINDS = "WFDB .hea + .dat/.mat, .npy, .npz, or a .zip of a WFDB record"


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one uploaded record (the request's byte limit is enforced before this, on the body)."""

    max_files: int = 8  # files in one request (a WFDB record: header + signal files)
    max_zip_members: int = 32  # entries in an uploaded .zip
    max_unzipped_bytes: int = 64 * 2**20  # bytes unpacked from a .zip, in total
    max_record_seconds: float = 120.0  # longer records are refused (preprocessing cost)


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def safe_name(name: str) -> str:
    """The base name of an uploaded file (folders dropped), or ``RequestError`` 400 if it is unusable."""
    base = re.split(r"[\\/]", name or "")[-1]
    if not _SAFE_NAME.match(base):
        raise RequestError(
            f"file name {base or name!r} is not usable; use letters, digits, '.', '_' and '-' only",
            status=400,
            code="bad_filename",
        )
    return base


def _unzip(name: str, data: bytes, limits: UploadLimits) -> list[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RequestError(
            f"{name}: not a readable .zip ({exc})", status=422, code="unreadable_record"
        ) from None
    out: list[tuple[str, bytes]] = []
    total = 0
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        infos = [
            i for i in infos if "__MACOSX" not in i.filename and not Path(i.filename).name.startswith(".")
        ]
        if len(infos) > limits.max_zip_members:
            raise RequestError(
                f"{name}: {len(infos)} files in the .zip, the limit is {limits.max_zip_members}; zip one record",
                status=413,
                code="too_many_files",
            )
        for info in infos:
            member = safe_name(info.filename)
            if _suffix(member) not in ACCEPTED or _suffix(member) == ZIP:
                continue  # a README, a checksum list...: not part of the record
            budget = limits.max_unzipped_bytes - total
            try:
                with zf.open(info) as fh:
                    blob = fh.read(budget + 1)
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError) as exc:
                raise RequestError(
                    f"{name}: cannot unpack {member} ({exc})", status=422, code="unreadable_record"
                ) from None
            total += len(blob)
            if total > limits.max_unzipped_bytes:
                raise RequestError(
                    f"{name}: unpacks to more than {limits.max_unzipped_bytes // 2**20} MiB; upload one record",
                    status=413,
                    code="upload_too_large",
                )
            out.append((member, blob))
    if not out:
        raise RequestError(
            f"{name}: the .zip holds no ECG files; it should hold {_KINDS}",
            status=422,
            code="unreadable_record",
        )
    return out


def _header_files(hea: str, text: str, present: set[str]) -> None:
    """Check that the header names only signal files uploaded with it (plain base names)."""
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise RequestError(f"{hea}: the header is empty", status=422, code="unreadable_record")
    head = lines[0].split()
    if "/" in head[0]:
        raise RequestError(
            f"{hea}: a multi-segment WFDB record; upload a single-segment record",
            status=422,
            code="unreadable_record",
        )
    try:
        n_sig = int(head[1]) if len(head) > 1 else 0
    except ValueError:
        raise RequestError(
            f"{hea}: bad record line {lines[0]!r}", status=422, code="unreadable_record"
        ) from None
    for ln in lines[1 : 1 + n_sig]:
        fname = ln.split()[0]
        if fname != Path(fname).name or fname not in present:
            raise RequestError(
                f"{hea}: the header names signal file {fname!r}, which was not uploaded with it; "
                "upload the .hea together with its .dat/.mat file(s)",
                status=422,
                code="missing_file",
            )


def _record_path(folder: Path, names: list[str]) -> Path:
    kinds = [_suffix(n) for n in names]
    numpy_files = [n for n, k in zip(names, kinds) if k in NUMPY]
    headers = [n for n, k in zip(names, kinds) if k == WFDB_HEADER]
    if numpy_files:
        if len(names) != 1:
            raise RequestError(
                f"upload one .npy/.npz alone (got {', '.join(names)})", status=400, code="too_many_files"
            )
        return folder / numpy_files[0]
    if len(headers) != 1:
        raise RequestError(
            f"expected one WFDB header (.hea) with its signal file(s), got {len(headers)} headers "
            f"({', '.join(names)}); upload one record",
            status=400 if headers else 422,
            code="too_many_files" if headers else "missing_file",
        )
    text = (folder / headers[0]).read_text(encoding="utf-8", errors="replace")
    _header_files(headers[0], text, set(names))
    return folder / headers[0]


def read_upload(
    files: Sequence[tuple[str, bytes]],
    *,
    fs: float | None = None,
    limits: UploadLimits = UploadLimits(),
    tmp_root: str | Path | None = None,
) -> Ecg:
    """Read the record in ``files`` (``(client file name, bytes)`` pairs) into an :class:`Ecg`.

    ``fs`` (Hz) is the sampling rate of a ``.npy``; ``tmp_root`` is where the temporary folder
    goes (default: the system's). Leads are kept as in the file (standard names, canonical
    order), as ``ecgbyte ask`` reads them. Raises :class:`RequestError` (4xx) for anything wrong
    with the upload or the record.
    """
    from ecgbyte.errors import EcgbyteError
    from ecgbyte.io import read_record

    if not files:
        raise RequestError(f"no file uploaded; send {_KINDS}", status=400, code="missing_file")
    if len(files) > limits.max_files:
        raise RequestError(
            f"{len(files)} files uploaded, the limit is {limits.max_files}; upload one record",
            status=413,
            code="too_many_files",
        )
    named = [(safe_name(n), b) for n, b in files]
    unknown = sorted({_suffix(n) or "(none)" for n, _ in named} - set(ACCEPTED))
    if unknown:
        raise RequestError(
            f"unsupported file type {', '.join(unknown)}; upload {_KINDS}",
            status=415,
            code="unsupported_type",
        )
    if any(_suffix(n) == ZIP for n, _ in named):
        if len(named) != 1:
            raise RequestError("upload a .zip alone (one record inside)", status=400, code="too_many_files")
        named = _unzip(*named[0], limits)
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise RequestError(f"file names repeat ({', '.join(names)})", status=400, code="bad_filename")
    with tempfile.TemporaryDirectory(prefix="ecgbyte-upload-", dir=tmp_root) as tmp:
        folder = Path(tmp)
        for n, blob in named:
            (folder / n).write_bytes(blob)
        path = _record_path(folder, names)
        try:
            ecg = read_record(path, leads=None, fs=fs)
        except Exception as exc:  # a damaged file can fail deep inside a reader: still the upload's fault
            msg = (
                str(exc) if isinstance(exc, EcgbyteError) else f"{path.name}: cannot read the record ({exc})"
            )
            msg = msg.replace(str(folder) + "/", "").replace(str(folder), "")
            raise RequestError(msg, status=422, code="unreadable_record") from None
    if ecg.duration_s > limits.max_record_seconds:
        raise RequestError(
            f"{path.name}: the record lasts {ecg.duration_s:.0f} s, the limit is {limits.max_record_seconds:g} s; "
            "upload a shorter record",
            status=413,
            code="record_too_long",
        )
    return ecg


__all__ = ["ACCEPTED", "UploadLimits", "read_upload", "safe_name"]
