"""Turn file bytes into text and back without losing a byte: encoding, BOM, line endings.

Texts handed to the rest of codeprm never contain the BOM and never have their line
endings translated; a ``FileCodec`` remembers how to turn an edited text back into
bytes the way the file was written. Binary files are refused, never decoded.

Detection, in order: a UTF-32 / UTF-8 / UTF-16 byte-order mark; a NUL byte means binary
(git's heuristic); strict UTF-8; otherwise Latin-1, which maps every byte to one
character and so writes back exactly the bytes it read.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from codeprm.errors import UnsupportedCapabilityError

# UTF-32-LE's mark starts with UTF-16-LE's, so the longer marks are tried first.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class FileCodec:
    """How a file's text is stored: a Python codec name and the BOM written before it."""

    encoding: str = "utf-8"
    bom: bytes = b""

    def encode(self, text: str, *, path: str = "") -> bytes:
        try:
            return self.bom + text.encode(self.encoding)
        except UnicodeEncodeError as err:
            raise UnsupportedCapabilityError(
                f"the new text of {path or 'a file'} cannot be written in its encoding "
                f"{self.encoding}: {err.reason} at character {err.start}",
                details={"path": path, "encoding": self.encoding, "reason": "unencodable"},
            ) from err

    def to_json(self) -> dict[str, str]:
        return {"encoding": self.encoding, "bom": self.bom.hex()}


#: The codec of files codeprm creates.
DEFAULT_CODEC = FileCodec()


def binary_error(path: str) -> UnsupportedCapabilityError:
    """The one error for 'this is a binary file'; nothing is ever written for one."""
    return UnsupportedCapabilityError(
        f"{path} is a binary file; codeprm edits text files only (nothing was written)",
        details={"path": path, "reason": "binary"},
    )


def decode(data: bytes, *, path: str = "") -> tuple[str, FileCodec]:
    """The text of ``data`` and the codec that writes it back byte for byte."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), FileCodec(encoding, bom)
            except UnicodeDecodeError as err:
                raise binary_error(path) from err
    if b"\x00" in data:
        raise binary_error(path)
    try:
        return data.decode("utf-8"), DEFAULT_CODEC
    except UnicodeDecodeError:
        return data.decode("latin-1"), FileCodec("latin-1")


def dominant_eol(text: str) -> str | None:
    """``"\\r\\n"`` if every line ending in ``text`` is CRLF, ``"\\n"`` if none is, else None."""
    lf = text.count("\n")
    if lf == 0:
        return None
    crlf = text.count("\r\n")
    if crlf == lf:
        return "\r\n"
    if crlf == 0:
        return "\n"
    return None
