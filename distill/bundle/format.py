"""The ``.distillgan`` model file: named components (state dict + resolved config) and metadata.

Layout of format 1, a zip archive:

``manifest.json``
    ``{"format": "distillgan", "format_version": 1, "components": ["vqvae", ...],
    "sha256": {member: hex digest of every other member}, "metadata": {...caller's dict...}}``
``<component>.yaml``
    the component's resolved config, UTF-8 text
``<component>.safetensors``
    the component's state dict

Components are ``vqvae`` (required), ``prior`` and ``vocoder``. Nothing is ever pickled and reading
never runs code: pickles (legacy ``.distill`` files) are recognised by their bytes and refused, member
names are checked before any member is read, members are read into memory (never extracted), and
every member is checked against its sha256 before it is decoded.

Writing is atomic: the archive is written to a hidden temp file in the destination folder, fsynced,
renamed over the final name, and the folder is fsynced, so a killed process leaves either the old
file or the new one under the final name, never a mix.

``torch`` and ``safetensors.torch`` are imported inside the two functions that handle tensors, so the
library catalog and ``distill list`` read manifests without paying for a torch import.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from distill.bundle.errors import (
    ChecksumError,
    CorruptModelFileError,
    LegacyFormatError,
    MissingComponentError,
    NewerFormatError,
    NotAModelFileError,
    UnreadableModelFileError,
    UnsafeMemberError,
)
from distill.files import atomic_write

if TYPE_CHECKING:
    import torch

FORMAT_MARKER = "distillgan"
FORMAT_VERSION = 1
COMPONENTS = ("vqvae", "prior", "vocoder")  # also the order members are written in
REQUIRED_COMPONENTS = ("vqvae",)
MANIFEST = "manifest.json"
MODEL_SUFFIX = ".distillgan"
LEGACY_SUFFIX = ".distill"

# Pickle protocols 2-5 open with the PROTO opcode 0x80 and the protocol number. torch.save wrote raw
# pickles before torch 1.6 and zips holding ``<archive>/data.pkl`` since.
_PICKLE_PROTOCOLS = range(2, 6)
_PICKLE_SUFFIXES = (".pkl", ".pickle")
# A fixed member timestamp makes the same components and metadata give byte-identical files.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# What zipfile raises while inflating or CRC-checking a damaged member.
_MEMBER_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


@dataclass(frozen=True)
class ComponentPayload:
    """One component: its weights and the resolved YAML config that rebuilds its modules."""

    state_dict: dict[str, torch.Tensor]
    config_yaml: str


@dataclass(frozen=True)
class Manifest:
    format_version: int
    components: tuple[str, ...]
    sha256: dict[str, str]  # member name -> hex digest, every member but manifest.json
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ModelFileContents:
    manifest: Manifest
    components: dict[str, ComponentPayload]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.manifest.metadata


# --- writing --------------------------------------------------------------------------------------


def write_model_file(
    path: str | Path, components: Mapping[str, ComponentPayload], metadata: Mapping[str, Any]
) -> Manifest:
    """Atomically write a model file; returns the manifest a reader will see (metadata via JSON)."""
    import torch
    from safetensors.torch import save

    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown components {unknown}; a model file holds {list(COMPONENTS)}")
    for required in REQUIRED_COMPONENTS:
        if required not in components:
            raise ValueError(f"a model file needs a {required} component")
    members: dict[str, bytes] = {}
    present = tuple(name for name in COMPONENTS if name in components)
    for name in present:
        payload = components[name]
        if not isinstance(payload.config_yaml, str):
            raise TypeError(f"{name}: config_yaml must be str, got {type(payload.config_yaml).__name__}")
        for key, value in payload.state_dict.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name}: state_dict[{key!r}] is a {type(value).__name__}, not a tensor")
        tensors = _standalone(payload.state_dict)
        members[f"{name}.yaml"] = payload.config_yaml.encode("utf-8")
        members[f"{name}.safetensors"] = save(tensors)
    return _write_archive(Path(path), components=present, metadata=metadata, members=members)


def _standalone(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU tensors that safetensors accepts: no two sharing storage, none a strided view.

    Tied weights (one Parameter under two keys) are saved once per key; load_state_dict re-ties them
    because the module shares the Parameter itself. Only tensors that need it are copied: a copy
    costs real time here and most state dict entries own their whole, contiguous storage.
    """
    owned: set[int] = set()
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        value = value.detach().cpu()
        storage = value.untyped_storage()
        whole = value.is_contiguous() and value.storage_offset() == 0 and storage.nbytes() == value.nbytes
        if whole and storage.data_ptr() not in owned:
            owned.add(storage.data_ptr())
        else:
            value = value.clone() if value.is_contiguous() else value.contiguous()
        tensors[key] = value
    return tensors


def copy_model_file(source: str | Path, dest: str | Path, *, metadata: Mapping[str, Any]) -> Manifest:
    """Verify ``source`` and atomically write it to ``dest`` with new metadata; ``dest`` may be ``source``.

    The component members are copied byte for byte (no tensor is decoded), which is how the library
    stamps its name and tags into a file.
    """
    manifest, members = _read_verified(Path(source))
    return _write_archive(Path(dest), components=manifest.components, metadata=metadata, members=members)


def _write_archive(
    path: Path, *, components: tuple[str, ...], metadata: Mapping[str, Any], members: dict[str, bytes]
) -> Manifest:
    document = {
        "format": FORMAT_MARKER,
        "format_version": FORMAT_VERSION,
        "components": list(components),
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
        "metadata": dict(metadata),
    }
    manifest_bytes = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
    entries = [(MANIFEST, manifest_bytes), *members.items()]
    atomic_write(path, lambda handle: _write_zip(handle, entries))
    written = json.loads(manifest_bytes)
    return Manifest(FORMAT_VERSION, components, written["sha256"], written["metadata"])


def _write_zip(handle: BinaryIO, entries: Iterable[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(handle, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            # Weights barely compress; stored, they read back as a plain copy.
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".safetensors") else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


# --- reading --------------------------------------------------------------------------------------


def read_manifest(path: str | Path) -> Manifest:
    """Read only the manifest (format checks, no checksums): cheap enough to list a whole library."""
    path = Path(path)
    with _open_archive(path) as archive:
        return _parse_manifest(path, archive)


def content_digest(manifest: Manifest) -> str:
    """sha256 over the digests of every member but the manifest: the weights and configs, which
    alone decide what a model renders. Stays put when only metadata changes (a recorded
    evaluation, tags), which rewrites the file and so changes its own sha256."""
    listing = "\n".join(f"{name} {digest}" for name, digest in sorted(manifest.sha256.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def verify_model_file(path: str | Path) -> Manifest:
    """Run every check ``read_model_file`` runs, without decoding tensors."""
    return _read_verified(Path(path))[0]


def read_model_file(path: str | Path) -> ModelFileContents:
    """Read and verify a model file; raises a ``ModelFileError`` subclass naming the problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    manifest, members = _read_verified(path)
    components: dict[str, ComponentPayload] = {}
    for name in manifest.components:
        try:
            config_yaml = members[f"{name}.yaml"].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptModelFileError(path, f"{name}.yaml is not UTF-8 text") from None
        try:
            state_dict = load(members[f"{name}.safetensors"])
        except SafetensorError:
            raise CorruptModelFileError(path, f"{name}.safetensors is not a safetensors file") from None
        components[name] = ComponentPayload(state_dict=state_dict, config_yaml=config_yaml)
    return ModelFileContents(manifest=manifest, components=components)


def _open_archive(path: Path) -> zipfile.ZipFile:
    """Open ``path`` as a zip after the checks that need no member data (pickles, member names)."""
    legacy_name = path.suffix == LEGACY_SUFFIX
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except FileNotFoundError:
        raise NotAModelFileError(path, "there is no such file (check the path)") from None
    except OSError as error:
        raise UnreadableModelFileError(path, error) from None
    if len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        raise LegacyFormatError(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError):
        if legacy_name:
            raise LegacyFormatError(path) from None
        raise NotAModelFileError(path, "it is not a zip archive, or it is truncated") from None
    try:
        names = [info.filename for info in archive.infolist()]
        _check_member_names(path, names)
        if legacy_name or any(name.endswith(_PICKLE_SUFFIXES) for name in names):
            raise LegacyFormatError(path)
        if MANIFEST not in names:
            raise NotAModelFileError(path, f"it has no {MANIFEST}")
    except BaseException:
        archive.close()
        raise
    return archive


def _check_member_names(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            # zipfile reads the last of equal names: one copy could pass the checksum, another be used.
            raise UnsafeMemberError(path, name, "it appears more than once")
        seen.add(name)
        if not name:
            raise UnsafeMemberError(path, name, "it is empty")
        if "\\" in name:
            raise UnsafeMemberError(path, name, "it contains a backslash")
        if name.startswith("/"):
            raise UnsafeMemberError(path, name, "it is an absolute path")
        if ":" in name:
            raise UnsafeMemberError(path, name, "it contains a colon, a drive or stream name on Windows")
        if ".." in name.split("/"):
            raise UnsafeMemberError(path, name, "it climbs out of its folder with '..'")
        if any(ord(char) < 32 for char in name):
            raise UnsafeMemberError(path, name, "it contains a control character")


def _read_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except _MEMBER_READ_ERRORS:
        raise ChecksumError(path, name) from None
    except NotImplementedError:
        raise CorruptModelFileError(path, f"{name} uses an unsupported compression method") from None


def _parse_manifest(path: Path, archive: zipfile.ZipFile) -> Manifest:
    raw = _read_member(path, archive, MANIFEST)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NotAModelFileError(path, f"its {MANIFEST} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_MARKER:
        raise NotAModelFileError(path, f"its {MANIFEST} lacks the {FORMAT_MARKER!r} format marker")
    version = document.get("format_version")
    # bool is an int subclass; True must not pass for format 1.
    if type(version) is not int or version < 1:
        raise CorruptModelFileError(path, "its format_version is not a positive integer")
    if version > FORMAT_VERSION:
        raise NewerFormatError(path, version, FORMAT_VERSION)

    components = document.get("components")
    if not isinstance(components, list) or not all(isinstance(name, str) for name in components):
        raise CorruptModelFileError(path, "its component list is not a list of names")
    for name in components:
        if name not in COMPONENTS:
            raise CorruptModelFileError(path, f"it lists an unknown component {name!r}")
    if len(set(components)) != len(components):
        raise CorruptModelFileError(path, "its component list repeats a component")
    for required in REQUIRED_COMPONENTS:
        if required not in components:
            raise MissingComponentError(path, required)
    digests = document.get("sha256")
    if not isinstance(digests, dict) or not all(isinstance(value, str) for value in digests.values()):
        raise CorruptModelFileError(path, "its checksum table is malformed")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise CorruptModelFileError(path, "its metadata is not a JSON object")
    return Manifest(version, tuple(components), digests, metadata)


def _read_verified(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    """Manifest and every member's bytes, after all structural checks and every checksum."""
    with _open_archive(path) as archive:
        manifest = _parse_manifest(path, archive)
        expected = [f"{name}{ext}" for name in manifest.components for ext in (".yaml", ".safetensors")]
        present = set(archive.namelist()) - {MANIFEST}
        for member in expected:
            if member not in present:
                raise MissingComponentError(path, member.split(".")[0], member)
        unexpected = sorted(present - set(expected))
        if unexpected:
            raise CorruptModelFileError(path, f"it holds an unexpected member {unexpected[0]!r}")
        if set(manifest.sha256) != set(expected):
            raise CorruptModelFileError(path, "its checksum table does not list exactly its members")
        members: dict[str, bytes] = {}
        for member in expected:
            data = _read_member(path, archive, member)
            if hashlib.sha256(data).hexdigest() != manifest.sha256[member]:
                raise ChecksumError(path, member)
            members[member] = data
    return manifest, members
