"""The .distillgan file: round trip, every refusal, and atomic writes."""

from __future__ import annotations

import hashlib
import json
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from distill.bundle.errors import (
    ChecksumError,
    CorruptModelFileError,
    LegacyFormatError,
    MissingComponentError,
    ModelFileError,
    NewerFormatError,
    NotAModelFileError,
    UnsafeMemberError,
)
from distill.bundle.format import (
    FORMAT_VERSION,
    MANIFEST,
    ComponentPayload,
    copy_model_file,
    read_manifest,
    read_model_file,
    verify_model_file,
    write_model_file,
)

METADATA = {
    "id": "0f3c2a9e8b7d4c1a9e8b7d4c1a2b3c4d",
    "name": "drums",
    "created": "2026-05-09T07:35:25+00:00",
    "dataset": {"tier": "small", "file_count": 12, "total_duration_s": 31.5},
    "codebook_health": {"levels": [{"utilization": 0.9}, {"utilization": 0.75}]},
    "loss_history": [{"step": 0, "train/loss": 1.5}, {"step": 50, "train/loss": 0.25}],
    "note": "ünïcödé ✓",
    "nothing": None,
}


def state_dict(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "encoder.conv.weight": torch.randn(4, 2, 3, 3, generator=g),
        "encoder.conv.bias": torch.randn(4, generator=g),
        "quantizer.codebook": torch.randn(2, 8, 4, generator=g).to(torch.bfloat16),
        "quantizer.cluster_size": torch.randint(0, 64, (2, 8), generator=g),
        "decoder.half": torch.randn(3, 5, generator=g).half(),
        "mask": torch.rand(6, generator=g) > 0.5,
        "scalar": torch.tensor(3.5),
    }


def components() -> dict[str, ComponentPayload]:
    return {
        "vqvae": ComponentPayload(
            state_dict(0), "_target_: distill.nn.VQVAE\nlevels: 4\ncodebook_size: 64\n"
        ),
        "prior": ComponentPayload(state_dict(1), "_target_: distill.nn.Prior\nhidden: 128\nlayers: 2\n"),
        "vocoder": ComponentPayload(
            state_dict(2), "_target_: distill.nn.HiFiGAN\nupsample: [8, 8, 2, 2, 2]\n"
        ),
    }


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "drums.distillgan"
    write_model_file(path, components(), METADATA)
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, entries: dict[str, bytes] | list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items() if isinstance(entries, dict) else entries:
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def with_manifest(entries: dict[str, bytes], **changes) -> dict[str, bytes]:
    document = json.loads(entries[MANIFEST])
    document.update(changes)
    return {**entries, MANIFEST: json.dumps(document).encode()}


class Trap:
    """Unpickling this creates ``marker``: a stand-in for a pickle that runs arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def assert_refused(path: Path, error: type[ModelFileError]) -> ModelFileError:
    """Every reader refuses ``path`` with ``error``, in one sentence naming the file."""
    for reader in (read_model_file, verify_model_file):
        with pytest.raises(error) as caught:
            reader(path)
        assert str(path) in str(caught.value)
        assert "\n" not in str(caught.value)
    return caught.value


# --- round trip -----------------------------------------------------------------------------------


def test_round_trip_keeps_tensors_configs_and_metadata(model: Path) -> None:
    contents = read_model_file(model)
    assert contents.manifest.format_version == FORMAT_VERSION
    assert contents.manifest.components == ("vqvae", "prior", "vocoder")
    assert contents.metadata == METADATA
    for name, payload in components().items():
        loaded = contents.components[name]
        assert loaded.config_yaml == payload.config_yaml
        assert loaded.state_dict.keys() == payload.state_dict.keys()
        for key, tensor in payload.state_dict.items():
            assert loaded.state_dict[key].dtype == tensor.dtype
            assert torch.equal(loaded.state_dict[key], tensor), key


def test_layout_is_manifest_yaml_and_safetensors_with_checksums(model: Path) -> None:
    entries = members(model)
    assert sorted(entries) == sorted(
        [MANIFEST] + [f"{c}.{ext}" for c in ("vqvae", "prior", "vocoder") for ext in ("yaml", "safetensors")]
    )
    document = json.loads(entries[MANIFEST])
    assert document["format"] == "distillgan" and document["format_version"] == 1
    for name, data in entries.items():
        if name != MANIFEST:
            assert document["sha256"][name] == hashlib.sha256(data).hexdigest()
    assert read_manifest(model).metadata == METADATA


def test_same_inputs_give_identical_bytes(tmp_path: Path, model: Path) -> None:
    again = write_model_file(tmp_path / "again.distillgan", components(), METADATA)
    assert (tmp_path / "again.distillgan").read_bytes() == model.read_bytes()
    assert again == read_manifest(model)


def test_optional_components_may_be_absent(tmp_path: Path) -> None:
    path = tmp_path / "vqvae_only.distillgan"
    write_model_file(path, {"vqvae": components()["vqvae"]}, {"id": "x"})
    assert read_model_file(path).manifest.components == ("vqvae",)


def test_tied_views_and_empty_tensors_are_saved_by_value(tmp_path: Path) -> None:
    shared = torch.randn(6, 4)
    tricky = {
        "embed": shared,
        "head": shared,  # tied weights: one storage under two keys
        "transposed": shared.t(),
        "row": shared[2],
        "columns": shared[:, 1:3],
        "empty": torch.empty(0),
        "also_empty": torch.empty(0, 3),
        "param": torch.nn.Parameter(torch.randn(3)),
    }
    path = tmp_path / "tricky.distillgan"
    write_model_file(path, {"vqvae": ComponentPayload(tricky, "a: 1\n")}, {})
    loaded = read_model_file(path).components["vqvae"].state_dict
    for key, tensor in tricky.items():
        assert torch.equal(loaded[key], tensor.detach()), key


def test_writer_refuses_bad_component_sets(tmp_path: Path) -> None:
    parts = components()
    with pytest.raises(ValueError, match="vqvae"):
        write_model_file(tmp_path / "a.distillgan", {"prior": parts["prior"]}, {})
    with pytest.raises(ValueError, match="unknown"):
        write_model_file(tmp_path / "b.distillgan", {**parts, "extra": parts["prior"]}, {})
    with pytest.raises(TypeError):
        write_model_file(tmp_path / "c.distillgan", {"vqvae": ComponentPayload({"w": [1.0]}, "")}, {})
    assert list(tmp_path.iterdir()) == []


def test_copy_replaces_metadata_and_keeps_members(tmp_path: Path, model: Path) -> None:
    copy = tmp_path / "copy.distillgan"
    copy_model_file(model, copy, metadata={**METADATA, "tags": ["kick"]})
    original, copied = members(model), members(copy)
    assert {k: v for k, v in copied.items() if k != MANIFEST} == {
        k: v for k, v in original.items() if k != MANIFEST
    }
    assert read_manifest(copy).metadata["tags"] == ["kick"]


# --- refusals -------------------------------------------------------------------------------------


def test_trap_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Trap(marker)))
    assert marker.exists()  # so "marker absent" below means the reader never unpickled


def test_legacy_torch_save_distill_file_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "old_model.distill"
    torch.save({"model": Trap(marker)}, path)  # what v1 wrote: a zip holding archive/data.pkl
    error = assert_refused(path, LegacyFormatError)
    assert "v1 format" in str(error) and "Please retrain your model." in str(error)
    with pytest.raises(LegacyFormatError):
        read_manifest(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_raw_pickles_are_refused_unrun(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "ran"
    data = pickle.dumps(Trap(marker), protocol=protocol)
    # Protocols 2+ are recognised by their bytes under any name; 0 and 1 have no magic, only the name.
    path = tmp_path / ("m.distill" if protocol < 2 else "m.distillgan")
    path.write_bytes(data)
    assert_refused(path, LegacyFormatError)
    assert not marker.exists()


def test_zip_with_a_pickle_member_is_refused_unrun(tmp_path: Path, model: Path) -> None:
    marker = tmp_path / "ran"
    evil = pickle.dumps(Trap(marker))
    path = write_zip(tmp_path / "evil.distillgan", {**members(model), "vqvae.pkl": evil})
    assert_refused(path, LegacyFormatError)
    # A pickle disguised as a safetensors member, with a matching checksum: decoded as safetensors only.
    entries = members(model)
    digests = json.loads(entries[MANIFEST])["sha256"]
    disguised = with_manifest(
        {**entries, "vqvae.safetensors": evil},
        sha256={**digests, "vqvae.safetensors": hashlib.sha256(evil).hexdigest()},
    )
    path = write_zip(tmp_path / "disguised.distillgan", disguised)
    with pytest.raises(CorruptModelFileError, match="vqvae.safetensors"):
        read_model_file(path)
    assert not marker.exists()


def test_newer_format_version_asks_for_an_upgrade(tmp_path: Path, model: Path) -> None:
    path = write_zip(tmp_path / "future.distillgan", with_manifest(members(model), format_version=2))
    error = assert_refused(path, NewerFormatError)
    assert "format 2, this distill reads up to 1" in str(error) and "upgrade distill" in str(error)
    with pytest.raises(NewerFormatError):
        read_manifest(path)


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_malformed_format_version_is_refused(tmp_path: Path, model: Path, version) -> None:
    path = write_zip(tmp_path / "odd.distillgan", with_manifest(members(model), format_version=version))
    assert_refused(path, CorruptModelFileError)


@pytest.mark.parametrize("content", [b"", b"RIFF....WAVEfmt ", b"\x00" * 100, b"PK\x03\x04 not really"])
def test_not_a_zip_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "noise.distillgan"
    path.write_bytes(content)
    assert_refused(path, NotAModelFileError)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nowhere.distillgan", NotAModelFileError)


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_zip_is_refused(tmp_path: Path, model: Path, keep: float) -> None:
    data = model.read_bytes()
    path = tmp_path / "cut.distillgan"
    path.write_bytes(data[: int(len(data) * keep)])
    assert_refused(path, NotAModelFileError)


@pytest.mark.parametrize(
    "manifest", [b'{"format": "other", "format_version": 1}', b"[1]", b"{not json", None]
)
def test_unknown_marker_or_no_manifest_is_refused(
    tmp_path: Path, model: Path, manifest: bytes | None
) -> None:
    entries = {name: data for name, data in members(model).items() if name != MANIFEST}
    if manifest is not None:
        entries[MANIFEST] = manifest
    assert_refused(write_zip(tmp_path / "odd.distillgan", entries), NotAModelFileError)


def test_tampered_member_fails_its_checksum(tmp_path: Path, model: Path) -> None:
    entries = members(model)
    tampered = bytearray(entries["prior.safetensors"])
    tampered[-1] ^= 0xFF  # a weight changes; the zip itself is valid (new CRC), the manifest is old
    path = write_zip(tmp_path / "tampered.distillgan", {**entries, "prior.safetensors": bytes(tampered)})
    error = assert_refused(path, ChecksumError)
    assert error.member == "prior.safetensors" and "prior.safetensors" in str(error)
    yaml = write_zip(tmp_path / "yaml.distillgan", {**entries, "vocoder.yaml": b"levels: 5\n"})
    assert assert_refused(yaml, ChecksumError).member == "vocoder.yaml"


def test_bit_rot_inside_the_archive_fails_its_checksum(tmp_path: Path, model: Path) -> None:
    data = bytearray(model.read_bytes())
    member = members(model)["vqvae.safetensors"]
    offset = bytes(data).find(member) + len(member) - 3  # stored uncompressed, so it is findable
    data[offset] ^= 0x01
    path = tmp_path / "rot.distillgan"
    path.write_bytes(bytes(data))
    assert assert_refused(path, ChecksumError).member == "vqvae.safetensors"


def test_missing_required_component_is_refused(tmp_path: Path, model: Path) -> None:
    entries = members(model)
    document = json.loads(entries[MANIFEST])
    without = {k: v for k, v in entries.items() if not k.startswith("vqvae.")}
    digests = {k: v for k, v in document["sha256"].items() if not k.startswith("vqvae.")}
    path = write_zip(
        tmp_path / "novq.distillgan", with_manifest(without, components=["prior", "vocoder"], sha256=digests)
    )
    assert assert_refused(path, MissingComponentError).component == "vqvae"
    with pytest.raises(MissingComponentError):
        read_manifest(path)
    # Listed, but its weights are gone.
    path = write_zip(
        tmp_path / "noweights.distillgan", {k: v for k, v in entries.items() if k != "vqvae.safetensors"}
    )
    assert assert_refused(path, MissingComponentError).member == "vqvae.safetensors"


@pytest.mark.parametrize(
    "change",
    [{"notes.txt": b"hi"}, {"components": ["vqvae", "prior", "vocoder", "critic"]}, {"metadata": [1]}],
)
def test_unexpected_members_and_malformed_manifests_are_refused(tmp_path: Path, model: Path, change) -> None:
    entries = members(model)
    entries = {**entries, **change} if "notes.txt" in change else with_manifest(entries, **change)
    assert_refused(write_zip(tmp_path / "odd.distillgan", entries), CorruptModelFileError)


@pytest.mark.parametrize("name", ["../x", "/abs", "..\\x", "sub/../../x", "C:evil", "a\x01b"])
def test_unsafe_member_names_are_refused_before_anything_is_read(
    tmp_path: Path, model: Path, name: str
) -> None:
    folder = tmp_path / "deep" / "inside"
    folder.mkdir(parents=True)
    path = write_zip(folder / "unsafe.distillgan", {**members(model), name: b"payload"})
    error = assert_refused(path, UnsafeMemberError)
    assert error.member == name
    with pytest.raises(UnsafeMemberError):
        read_manifest(path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "deep",
        "drums.distillgan",
        "inside",
        "unsafe.distillgan",
    ]


def test_duplicate_member_names_are_refused(tmp_path: Path, model: Path) -> None:
    entries = members(model)
    listing = [*entries.items(), ("vqvae.safetensors", b"a second, different copy")]
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = write_zip(tmp_path / "dup.distillgan", listing)
    assert assert_refused(path, UnsafeMemberError).member == "vqvae.safetensors"


# --- atomic writes --------------------------------------------------------------------------------


def test_failure_mid_write_keeps_the_old_file_and_leaves_nothing(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = model.read_bytes()
    real_writestr = zipfile.ZipFile.writestr

    def failing_writestr(self, info, data, *args, **kwargs):
        if info.filename == "prior.yaml":  # manifest and vqvae members are already written
            raise OSError("disk full")
        return real_writestr(self, info, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="disk full"):
        write_model_file(model, components(), {**METADATA, "name": "new"})
    with pytest.raises(OSError, match="disk full"):
        write_model_file(tmp_path / "fresh.distillgan", components(), METADATA)
    assert model.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drums.distillgan"]


KILL_MID_WRITE = textwrap.dedent(
    """
    import os, signal, sys, zipfile
    from distill.bundle.format import copy_model_file

    real_writestr = zipfile.ZipFile.writestr
    written = []

    def writestr_then_die(self, info, data, *args, **kwargs):
        written.append(info)
        real_writestr(self, info, data, *args, **kwargs)
        if len(written) == 3:  # some members are on disk, the archive is unfinished
            self.fp.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    zipfile.ZipFile.writestr = writestr_then_die
    copy_model_file(sys.argv[1], sys.argv[2], metadata={"id": "replacement"})
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_writer_never_leaves_a_partial_file_under_the_final_name(tmp_path: Path, model: Path) -> None:
    before = model.read_bytes()
    source = tmp_path / "source.distillgan"
    write_model_file(source, components(), {"id": "source"})
    for target in (model, tmp_path / "fresh.distillgan"):
        child = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(source), str(target)])
        assert child.returncode == -signal.SIGKILL
    assert model.read_bytes() == before
    assert read_model_file(model).metadata == METADATA
    assert not (tmp_path / "fresh.distillgan").exists()
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["drums.distillgan", "source.distillgan"]
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 2 and all(p.suffix == ".tmp" for p in leftovers)  # killed: nothing cleaned up
