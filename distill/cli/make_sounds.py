"""Making a planned batch of sounds: load the model, say what a large batch will cost, generate,
export and report each sound, and stop cleanly on Ctrl-C. ``distill generate`` and ``distill
blend`` plan; this makes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill.cli.errors import interrupted
from distill.generation.params import STAGES, GenerationParams

if TYPE_CHECKING:
    from distill.generation.blend import BlendParams
    from distill.generation.cost import BatchCost
    from distill.generation.remake import RecordedSound


@dataclass(frozen=True)
class Plan:
    """What to make: with which model, one sound per settings, written alike."""

    model: str | Path  # as given to DistillModel.load
    sounds: list[GenerationParams]  # several: variations, written as out-0.wav, out-1.wav, ...
    output: Path | None  # None: <model name>.<format> here
    export: dict[str, Any]  # keyword arguments of Audio.save
    recorded: RecordedSound | None = None  # --from: the sound to remake
    blend: BlendParams | None = None  # a blend of ``model`` towards ``second`` (distill blend)
    second: str | Path | None = None
    # --notes: each sound's key (MIDI); ``output`` is then the folder of the set and its SFZ file.
    keys: list[int] | None = None


def make_sounds(console, plan: Plan, *, library: Path | None, plot: bool) -> None:
    """Load the plan's model, say what a large batch will cost (refusing one that cannot fit), then
    generate, export and report each sound. Ctrl-C stops after the sound in progress and says what
    was written; a second process writing the same output name is refused (``output_lock``)."""
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from distill.files import interrupts_deferred, output_lock, remove_abandoned_temps
    from distill.generation.export import output_paths
    from distill.generation.sample_set import key_paths
    from distill.model import DistillModel

    loaded = DistillModel.load(plan.model, library=library)
    second = None if plan.second is None else DistillModel.load(plan.second, library=library)
    count = len(plan.sounds)
    audio_format = plan.export["format"]
    base = plan.output
    if plan.keys is not None and (base is None or not base.suffix):  # a sample set: -o is its folder
        base = (base or Path(f"{loaded.name}-keys")) / f"{loaded.name}.{audio_format or 'wav'}"
    elif base is None:  # no -o: the model's name, here
        base = Path(f"{loaded.name}.{audio_format or 'wav'}")
    elif base.suffix == "" and audio_format is None:
        base = base.with_suffix(".wav")  # with a format, export_audio appends its suffix
    targets = output_paths(base, count) if plan.keys is None else key_paths(base, plan.keys)
    cost = _batch_cost(loaded, plan, targets[0])
    cost.require_room()
    if cost.large:
        console.print(f"This request: {escape(cost.describe())}")
    # Hidden temp files of exports killed here earlier (an hour old: a shared folder may hold the
    # temp files of writers on other machines, whose pids mean nothing here).
    remove_abandoned_temps(targets[0].parent.expanduser(), min_age_s=3600.0)
    steps_per_sound = len(STAGES) + 1  # + export
    written: list[Path] = []
    with (
        output_lock(base),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("loading", total=count * steps_per_sound)
        try:
            for index, (target, params) in enumerate(zip(targets, plan.sounds, strict=True)):
                started = time.perf_counter()
                label = f"[{index + 1}/{count}] seed {params.seed}"

                def on_stage(name: str, label: str = label) -> None:
                    progress.update(task, description=f"{label}: {name}")
                    if name != STAGES[0]:
                        progress.advance(task)

                result = _make_one(loaded, second, plan, params, on_stage)
                progress.update(task, description=f"{label}: export")
                progress.advance(task)
                with interrupts_deferred():  # the audio and its sidecar are written as a pair
                    saved = result.audio.save(target, **plan.export)
                written.append(saved.path)
                progress.advance(task)
                if index == 0:  # once the first file is written (bad export settings fail first)
                    console.print(f"mode: {result.params.mode}; {escape(result.vocoder.reason)}")
                    if result.vocoder.warning:
                        console.print(f"[yellow]warning:[/] {escape(result.vocoder.warning)}")
                    if cost.large and count > 1:
                        console.print(escape(cost.time_left(time.perf_counter() - started)))
                _report_sound(console, loaded, plan, result, saved, plot=plot)
        except KeyboardInterrupt:
            progress.stop()
            interrupted(_interrupted_batch(written, count))
    if plan.keys is not None:
        from distill.generation.sample_set import write_sfz

        sfz = write_sfz(base.with_suffix(".sfz"), list(zip(plan.keys, written, strict=True)))
        console.print(f"wrote {escape(str(sfz))}: {count} keys, one sound each")


def _make_one(loaded, second, plan: Plan, params: GenerationParams, on_stage):
    if plan.blend is not None:
        from distill.generation.blend import run_blend

        return run_blend(loaded, second, params, plan.blend, on_stage=on_stage)
    if plan.recorded is not None:
        return loaded.remake(plan.recorded, on_stage=on_stage)
    return loaded.generate(params, on_stage=on_stage)


def _report_sound(console, loaded, plan: Plan, result, written, *, plot: bool) -> None:
    from rich.markup import escape

    from distill.generation.remake import file_sha256

    stereo = ", stereo" if result.audio.channels == 2 else ""
    console.print(
        f"wrote {escape(str(written.path))} ({written.duration_s:.2f} s, {written.sample_rate} Hz{stereo})"
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(written.path.name)}: {escape(warning)}")
    if written.peak_report:
        console.print(f"  {escape(written.peak_report)}")
    expected = plan.recorded.sha256 if plan.recorded is not None else None
    if expected is not None and file_sha256(written.path) != expected:
        console.print(
            f"[yellow]warning:[/] {escape(str(written.path))} differs from the recorded file: the "
            "software that made it differs (see the two sidecars' software entries)."
        )
    if plot:
        from distill.codes.plot import plot_generation

        image = plot_generation(
            result.mel,
            result.grid.codes,
            written.path.with_suffix(".png"),
            frames_per_column=result.grid.frames_per_column,
            codebook_size=loaded.vqvae.quantizer.codebook_size,
        )
        console.print(f"wrote {escape(str(image))}")


def _batch_cost(loaded, plan: Plan, first_target: Path) -> BatchCost:
    """What the plan will cost: its sounds' resolved length (all share it but the seed) and size."""
    from distill.generation.cost import batch_cost
    from distill.generation.export import expected_file_bytes
    from distill.generation.pipeline import resolve

    params = plan.sounds[0] if plan.recorded is not None else resolve(loaded, plan.sounds[0])
    size = expected_file_bytes(
        first_target,
        params.duration_s,
        channels=2 if params.spatial else 1,
        sample_rate=plan.export["sample_rate"],
        format=plan.export.get("format"),
        subtype=plan.export.get("subtype"),
    )
    return batch_cost(len(plan.sounds), params.duration_s, size, first_target.parent)


def _interrupted_batch(written: list[Path], count: int) -> str:
    if not written:
        return f"no sound was finished of the {count} asked for; nothing was written."
    names = written[0].name if len(written) == 1 else f"{written[0].name} to {written[-1].name}"
    return (
        f"{len(written)} of {count} sounds were written ({names}, in {written[0].parent}), each whole with"
        " its sidecar; the rest were not started."
    )
