"""Making a generated sound again from its sidecar: what the sidecar records, and the model file
that made it.

A generated sound's metadata names the model file that made it (``model_file_record``: its path,
its sha256 and ``content_sha256``, the digest of its weights and configs) beside the resolved
generation settings; its sidecar adds the export settings. ``read_recorded`` reads what to make
again, ``find_recorded_model`` finds that model file (in the library by id or name, else at the
recorded path) and ``DistillModel.remake`` makes the sound with it, refusing a model with other
weights. The digest of weights and configs decides, not the file's sha256: a model retagged or
evaluated since (a metadata rewrite) still remakes its sounds bit for bit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distill.errors import UserError
from distill.generation.params import GenerationParams
from distill.generation.sidecar import SIDECAR_SUFFIX, read_sidecar, sidecar_path


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def model_file_record(path: Path, content_sha256: str) -> dict[str, str]:
    """What a sound's metadata records of the model file that made it: the keys
    ``find_recorded_model`` looks the file up by."""
    return {"file": str(path.resolve()), "sha256": file_sha256(path), "content_sha256": content_sha256}


@dataclass(frozen=True, kw_only=True)
class RecordedSound:
    """A generated sound as its sidecar records it: enough to write the same file again."""

    sidecar: Path  # the sidecar it was read from
    audio_file: str  # the name of the file it describes
    model: dict[str, Any]  # the model that made it: id, name, file, sha256, content_sha256
    params: GenerationParams  # as resolved, with the vocoder that rendered it
    export: dict[str, Any]  # keyword arguments of Audio.save that write it alike
    sha256: str | None  # what the remade file's sha256 should be; None for a lossy format
    blend: dict[str, Any] | None = None  # a blend's settings and its second model (generation/blend.py)

    def made_by(self, content_sha256: str | None, path: Path | None) -> bool:
        """Whether the model file at ``path``, whose weights and configs have digest
        ``content_sha256``, is the one that made this sound."""
        recorded = self.model.get("content_sha256")
        if isinstance(recorded, str):
            return content_sha256 == recorded
        wanted = self.model.get("sha256")  # a sidecar written before the digest was recorded
        if isinstance(wanted, str):
            return path is not None and file_sha256(path) == wanted
        return True  # a sidecar written before model files were hashed: nothing to compare

    def target(self, output: Path | None) -> Path:
        """Where the remade file goes: ``output``, else the recorded name beside the sidecar (which
        must not be there still); a name in another format than the recorded one is refused."""
        target = output if output is not None else self.sidecar.parent / Path(self.audio_file).name
        if output is None and target.exists():
            raise UserError(f"{target} is still there; give -o <new file> to remake it beside the original.")
        recorded = str(self.export["format"])
        if target.suffix and target.suffix.lower().lstrip(".") != recorded:
            raise UserError(
                f"{self.sidecar} records a {recorded.upper()} file; name the output *.{recorded}"
                " (a sound is remade in the format it was made in)."
            )
        return target


def read_recorded(sidecar: str | Path) -> RecordedSound:
    """What the sidecar ``sidecar`` (the ``.json``, or the audio file beside it) records of a
    generated sound; a UserError when it is not a generated sound's."""
    from distill.generation.export import FORMATS
    from distill.generation.pipeline import params_from_metadata

    sidecar = Path(sidecar)
    where = sidecar if sidecar.name.endswith(SIDECAR_SUFFIX) else sidecar_path(sidecar)
    recorded = read_sidecar(where)
    metadata = recorded.metadata if isinstance(recorded.metadata, dict) else {}
    model = metadata.get("model")
    if not isinstance(model, dict) or not isinstance(recorded.audio_file, str):
        raise UserError(f"The sidecar {where} records no model, so it is not of a generated sound to remake.")
    params = params_from_metadata(metadata)
    params.check()
    used = metadata.get("vocoder_used")
    kind = used.get("kind") if isinstance(used, dict) else None
    if isinstance(kind, str):
        params = replace(params, vocoder=_vocoder_choice_for(kind))
    export = dict(recorded.export_options)
    exact = getattr(FORMATS.get(str(export["format"])), "byte_exact", False)
    return RecordedSound(
        sidecar=where,
        audio_file=recorded.audio_file,
        model=model,
        params=params,
        export=export,
        sha256=recorded.sha256 if exact and isinstance(recorded.sha256, str) else None,
        blend=_recorded_blend(metadata, where),
    )


def _recorded_blend(metadata: dict[str, Any], where: Path) -> dict[str, Any] | None:
    """A blend's record, checked: its settings and the second model's record."""
    from distill.generation.blend import BlendParams

    blend = metadata.get("blend")
    if blend is None:
        return None
    try:
        BlendParams(kind=blend["kind"], weight=blend["weight"], curve=blend["curve"]).check()
        second = blend["second"]
    except (KeyError, TypeError) as error:
        raise UserError(f"The sidecar {where} records a blend without usable settings ({error}).") from None
    if not isinstance(second, dict):
        raise UserError(f"The sidecar {where} records a blend without its second model.")
    return blend


def _vocoder_choice_for(kind: str) -> str:
    """The vocoder choice that renders with ``kind`` again: a recorded ``auto`` would pick BigVGAN
    once one is installed, even for a sound the model's own vocoder made."""
    from distill.vocoders.choice import VocoderChoice

    return VocoderChoice.BIGVGAN.value if kind == VocoderChoice.BIGVGAN.value else VocoderChoice.BUNDLED.value


def find_recorded_model(recorded: RecordedSound, *, library: str | Path | None = None) -> Path:
    """The model file that made ``recorded``: the library's model with the recorded id (found under
    any name: the id is in the file, so a file with the same bytes has it), else the one with the
    recorded name, else the file at the recorded path. A UserError names the file found when it
    holds other weights, or says that none was found."""
    from distill.bundle.catalog import ModelLibrary, default_library_root
    from distill.bundle.errors import LibraryError
    from distill.bundle.format import content_digest, read_manifest

    lib = ModelLibrary(root=library if library is not None else default_library_root())
    model = recorded.model
    name, file = model.get("name"), model.get("file")
    named: list[Path] = []  # the files the sidecar names, likeliest first
    for key in ("id", "name"):
        if isinstance(model.get(key), str) and model[key]:
            try:
                named.append(lib.resolve(model[key]))
            except LibraryError:
                pass
    if isinstance(file, str) and Path(file).is_file():
        named.append(Path(file))
    if not named:
        raise UserError(
            f"No model {name!r} (which made the sound of {recorded.sidecar}) is in the library at"
            f" {lib.root} or at {file}; add its file with `distill models add <file>`, or pass --library."
        )
    for path in dict.fromkeys(path.resolve() for path in named):  # each file read once
        if recorded.made_by(content_digest(read_manifest(path)), path):
            return path
    wanted = model.get("content_sha256") or model.get("sha256")
    raise UserError(
        f"The model file {named[0]} is not the one that made the sound of {recorded.sidecar} (its weights"
        f" differ from the recorded {str(wanted)[:12]}...): it was retrained or edited since, so the sound"
        " cannot be remade bit for bit."
    )
