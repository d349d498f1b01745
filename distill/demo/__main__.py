"""`make demo`: a sound world -> vocoder, RVQ-VAE and prior -> demo.distillgan -> new sounds.

python -m distill.demo [--data /my/sounds] [--out demo]

Every step is a command a user could type (printed as it runs): the same training entry point,
``package=true`` to bundle the models into the library, ``distill generate`` (one-shots, as the
demo's collection of short hits suggests) and ``distill evaluate``, whose table ends the demo: how
close the new sounds are to the demo's own, against held-out files and noise. The demo's small,
short training settings are the ``experiment=demo_*`` configs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

MODEL_NAME = "demo"
VARIATIONS = 8


def _run(command: list[str], *, env: dict, what: str) -> None:
    print(f"\n[demo] {what}:", " ".join(str(part) for part in command[1:]), flush=True)
    if subprocess.run(command, env=env).returncode != 0:
        sys.exit(f"[demo] {what} failed (see the messages above)")


def _train(model: str, run_dir: Path, data: Path, *extra: str, env: dict) -> None:
    command = [
        sys.executable,
        "-m",
        "distill.cli.train_commands",  # train.py's Hydra app, also where no checkout is
        f"model={model}",
        f"experiment=demo_{model}",
        f"data.path={data}",
        f"hydra.run.dir={run_dir}",
        f"task_name=demo-{model}",
        *extra,
    ]
    _run(command, env=env, what=f"training the {model}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="your own folder of recordings (default: synthesise)"
    )
    parser.add_argument("--out", type=Path, default=Path("demo"), help="where the demo writes everything")
    args = parser.parse_args()
    out = args.out.resolve()
    data = args.data.resolve() if args.data else out / "sounds"
    # The demo's own runs, library and outputs are rebuilt on every run (the sound cache is kept).
    for owned in ("runs", "library", "generated"):
        shutil.rmtree(out / owned, ignore_errors=True)
    if args.data is None:
        from distill.demo.sounds import write_demo_sounds

        shutil.rmtree(data, ignore_errors=True)  # the demo's own sounds: an older demo's set must not mix in
        paths = write_demo_sounds(data)
        print(f"[demo] synthesised {len(paths)} one-shots in {data}")
    library = out / "library"
    env = {
        **os.environ,
        "DISTILL_LOG_DIR": str(out / "logs"),
        "DISTILL_CACHE_DIR": str(out / "cache"),
        "DISTILL_HOME": str(library),
    }
    env.setdefault("WANDB_MODE", "offline")
    distill = [sys.executable, "-m", "distill.cli.main"]
    runs = {name: out / "runs" / name for name in ("vocoder", "vqvae", "prior")}

    _run([*distill, "scan", str(data)], env=env, what="scanning the sounds")
    _train("vocoder", runs["vocoder"], data, env=env)
    # The vocoder first: the other two runs render their end-of-run quality with it.
    _train("vqvae", runs["vqvae"], data, f"vocoder_run={runs['vocoder']}", env=env)
    _train(
        "prior",
        runs["prior"],
        data,
        f"model.vqvae={runs['vqvae']}",
        f"vocoder_run={runs['vocoder']}",
        "package=true",
        f"package_name={MODEL_NAME}",
        env=env,
    )
    generated = out / "generated" / f"{MODEL_NAME}.wav"
    _run(
        [*distill, "generate", MODEL_NAME, "--count", str(VARIATIONS), "--plot", "-o", str(generated)],
        env=env,
        what=f"generating {VARIATIONS} new sounds",
    )
    _run([*distill, "models", "list"], env=env, what="the model library")
    _run(
        [
            *distill,
            "evaluate",
            MODEL_NAME,
            "--count",
            str(VARIATIONS),
            "--json",
            str(out / "generated" / "evaluation.json"),
        ],
        env=env,
        what="how close the new sounds are to the demo's own",
    )

    print("\n[demo] done. Files:")
    print(f"  sounds                 {data}")
    for name, run_dir in runs.items():
        print(f"  {name + ' run':<22} {run_dir}  (summary.json, checkpoints/, csv/, previews/)")
    print(f"  model file             {library / 'models' / (MODEL_NAME + '.distillgan')}")
    for path in sorted(generated.parent.iterdir()):
        kind = {".wav": "generated audio", ".json": "its sidecar (remakes it)", ".png": "mel + code grid"}
        if path.name == "evaluation.json":
            kind = {".json": "the evaluation table"}
        print(f"  {kind.get(path.suffix, 'file'):<22} {path}")
    print(
        f"\n[demo] more: DISTILL_HOME={library} distill generate {MODEL_NAME} --count 16 --seed 7 -o more.wav"
        f"\n             DISTILL_HOME={library} distill generate {MODEL_NAME} --mode continuous --duration 10"
    )


if __name__ == "__main__":
    main()
