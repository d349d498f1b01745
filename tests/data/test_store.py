from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

import distill.data.store as store_module
from distill.audio.io import UnusableAudioError
from distill.audio.mel import MelConfig
from distill.data.store import MelCache


def count_decodes(monkeypatch) -> list:
    calls = []
    original = store_module.load_audio

    def counting(path, **kwargs):
        calls.append(Path(path).name)
        return original(path, **kwargs)

    monkeypatch.setattr(store_module, "load_audio", counting)
    return calls


def test_second_run_never_decodes_and_entries_match_a_fresh_decode(tmp_path: Path, monkeypatch):
    path = write_tone(tmp_path / "a.wav", seconds=0.7, sample_rate=48000)
    calls = count_decodes(monkeypatch)
    first = MelCache(root=tmp_path / "cache", mel_config=MelConfig()).prepare(path)
    second = MelCache(root=tmp_path / "cache", mel_config=MelConfig()).prepare(path)
    assert calls == ["a.wav"]
    assert first == second
    audio, mel = MelCache(root=tmp_path / "cache", mel_config=MelConfig()).arrays(second)
    _, fresh_audio, fresh_mel = store_module.decode_for_training(path, MelConfig())
    assert np.array_equal(audio, fresh_audio) and np.array_equal(mel, fresh_mel)
    assert len(audio) == mel.shape[1] * 512 == second.n_frames * 512


def test_cache_invalidates_on_file_change_and_mel_config_change(tmp_path: Path, monkeypatch):
    path = write_tone(tmp_path / "a.wav", seconds=0.5)
    calls = count_decodes(monkeypatch)
    MelCache(root=tmp_path / "cache", mel_config=MelConfig()).prepare(path)
    write_tone(path, seconds=0.9)  # the user edits the recording
    edited = MelCache(root=tmp_path / "cache", mel_config=MelConfig()).prepare(path)
    assert edited.n_samples == int(0.9 * 44100)
    MelCache(root=tmp_path / "cache", mel_config=MelConfig(f_max=16000.0)).prepare(path)
    assert calls == ["a.wav"] * 3


def test_renamed_file_hits_the_cache_and_unusable_files_are_remembered(tmp_path: Path, monkeypatch):
    path = write_tone(tmp_path / "a.wav", seconds=0.5)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    cache = MelCache(root=tmp_path / "cache", mel_config=MelConfig())
    cache.prepare(path)
    with pytest.raises(UnusableAudioError):
        cache.prepare(bad)
    calls = count_decodes(monkeypatch)
    path.rename(tmp_path / "renamed.wav")
    cache.prepare(tmp_path / "renamed.wav")
    with pytest.raises(UnusableAudioError, match="not readable"):
        cache.prepare(bad)
    assert calls == []
