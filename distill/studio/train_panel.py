"""The studio's Train panel: scan a folder, train vocoder, RVQ-VAE and prior (each with a time
budget, or all three then package), watch it live, cancel, resume, package.

Training runs as a detached job (``distill.studio.jobs``): the kernel stays responsive, and a
restarted kernel finds the workspace's jobs again in the job list. A watcher thread reads the job's
files every second and updates the progress bar, the loss curves, the codebook health and the
preview player; it only reads, so closing the notebook never disturbs a run.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import ipywidgets as widgets

from distill.errors import UserError
from distill.studio.common import Status, StudioContext, guarded, named
from distill.studio.jobs import (
    PACKAGE,
    TRAINING_STAGES,
    TrainingJob,
    TrainingPlan,
    finished_runs,
    record_packaged,
    stage_done,
)
from distill.studio.training_view import curves_png, health_html, newest_preview, progress_line

STAGE_TITLES = {"vocoder": "vocoder", "vqvae": "RVQ-VAE", "prior": "prior"}
DEFAULT_BUDGET_MIN = {"vocoder": 10.0, "vqvae": 10.0, "prior": 10.0}
WATCH_EVERY_S = 1.0


class TrainPanel(widgets.VBox):
    def __init__(self, context: StudioContext) -> None:
        self.context = context
        self.status = Status("train")
        self.folder = named(
            widgets.Text(description="folder", placeholder="/path/to/recordings"), "train-folder"
        )
        self.scan_button = named(widgets.Button(description="scan"), "train-scan")
        self.scan_report = named(widgets.HTML(), "train-scan-report")
        self.name = named(widgets.Text(description="model name", placeholder="e.g. drums"), "train-name")
        self.stage_boxes = {
            stage: named(
                widgets.Checkbox(value=True, description=STAGE_TITLES[stage], indent=False),
                f"train-stage-{stage}",
            )
            for stage in TRAINING_STAGES
        }
        self.package_box = named(
            widgets.Checkbox(value=True, description="then package", indent=False), "train-stage-package"
        )
        self.budgets = {
            stage: named(
                widgets.FloatText(value=DEFAULT_BUDGET_MIN[stage], description="minutes"),
                f"train-budget-{stage}",
            )
            for stage in TRAINING_STAGES
        }
        self.overrides = {
            stage: named(
                widgets.Text(description=STAGE_TITLES[stage], placeholder="e.g. trainer=gpu data=small"),
                f"train-overrides-{stage}",
            )
            for stage in TRAINING_STAGES
        }
        self.start_button = named(widgets.Button(description="train", button_style="primary"), "train-start")
        self.cancel_button = named(widgets.Button(description="cancel"), "train-cancel")
        self.resume_button = named(widgets.Button(description="resume"), "train-resume")
        self.package_button = named(widgets.Button(description="package"), "train-package")
        self.jobs = named(widgets.Dropdown(description="job", options=[]), "train-job")
        self.progress = named(widgets.FloatProgress(value=0.0, min=0.0, max=1.0), "train-progress")
        self.progress_text = named(widgets.HTML(), "train-progress-text")
        self.curves = named(
            widgets.Image(format="png", layout=widgets.Layout(max_width="100%")), "train-curves"
        )
        self.health = named(widgets.HTML(), "train-health")
        # The player is made with the first preview: an Audio widget without sound makes the page
        # fetch an empty blob, which the browser reports as a failed load.
        self.preview: widgets.Audio | None = None
        self.preview_box = widgets.Box([])
        self.curves.layout.display = "none"
        for field in (self.folder, self.name, *self.overrides.values()):
            field.style.description_width = "90px"
            field.layout.width = "560px"  # a folder's path, a run's overrides: long lines

        self.scan_button.on_click(guarded(context, self.status, lambda _: self.scan(wait=False)))
        self.start_button.on_click(guarded(context, self.status, lambda _: self.start()))
        self.cancel_button.on_click(guarded(context, self.status, lambda _: self.cancel()))
        self.resume_button.on_click(guarded(context, self.status, lambda _: self.resume()))
        self.package_button.on_click(guarded(context, self.status, lambda _: self.package()))
        self.jobs.observe(guarded(context, self.status, lambda _: self._show_job()), names="value")

        stages = widgets.VBox(
            [widgets.HBox([self.stage_boxes[stage], self.budgets[stage]]) for stage in TRAINING_STAGES]
            + [self.package_box]
        )
        advanced = named(
            widgets.Accordion(children=[widgets.VBox(list(self.overrides.values()))]), "train-advanced"
        )
        advanced.set_title(0, "Hydra overrides per model (advanced)")
        advanced.selected_index = None
        super().__init__(
            children=[
                widgets.HBox([self.folder, self.scan_button]),
                self.scan_report,
                self.name,
                stages,
                advanced,
                widgets.HBox(
                    [self.start_button, self.cancel_button, self.resume_button, self.package_button]
                ),
                self.jobs,
                self.progress,
                self.progress_text,
                self.curves,
                self.health,
                self.preview_box,
                self.status,
            ]
        )
        named(self, "train")
        self._scan_thread: threading.Thread | None = None
        self._watched: TrainingJob | None = None
        self._watch_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._curves_at = 0.0
        self._preview_path: Path | None = None
        # Guarded: a workspace it may not read is the status line, not a traceback out of Studio().
        guarded(context, self.status, self.refresh_jobs)()

    # --- actions ----------------------------------------------------------------------------------

    def scan(self, wait: bool = True) -> None:
        """``distill scan`` of the folder: usable files, what is skipped and why, and the tier. In a
        thread (the button's ``wait=False``): a first scan of hundreds of files decodes each one,
        and the kernel stays free meanwhile."""
        folder = self.folder.value.strip()
        if not folder:
            raise UserError("Give the folder of recordings to train on.")
        if self._scan_thread is not None and self._scan_thread.is_alive():
            raise UserError("A scan is running; wait for it to finish.")
        self.scan_button.disabled = True

        def run() -> None:
            try:
                guarded(self.context, self.status, self._scan)(folder)
            finally:
                self.scan_button.disabled = False

        self._scan_thread = threading.Thread(target=run, daemon=True, name="studio-scan")
        self._scan_thread.start()
        if wait:
            self._scan_thread.join()

    def _scan(self, folder: str) -> None:
        from rich.console import Console

        from distill.audio.mel import MelConfig
        from distill.config import default_cache_dir
        from distill.data.scan import scan_folder
        from distill.data.scan_report import render_scan_report
        from distill.data.store import MelCache
        from distill.data.tiers import pick_tier

        self.status.say(f"scanning {folder} …")
        store = MelCache(root=default_cache_dir(), mel_config=MelConfig())

        def on_file(path: Path) -> None:
            self.status.say(f"reading {path.name} …")

        report = scan_folder(folder, store=store, on_file=on_file)
        tier = pick_tier(len(report.usable)) if report.usable else None
        console = Console(record=True, width=100, file=io.StringIO())
        render_scan_report(console, report, tier_name=tier.name if tier else None)
        self.scan_report.value = console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")
        report.require_usable()  # no usable file: its sentence goes on the status
        if not self.name.value.strip():
            self.name.value = Path(folder).expanduser().resolve().name
        self.status.say(f"{len(report.usable)} usable recordings; data=auto picks the {tier.name} tier.")

    def plan(self) -> TrainingPlan:
        """The plan the fields describe (checked when started)."""
        stages = [stage for stage in TRAINING_STAGES if self.stage_boxes[stage].value]
        if self.package_box.value:
            stages.append(PACKAGE)
        return TrainingPlan(
            name=self.name.value.strip(),
            data=self.folder.value.strip(),
            stages=tuple(stages),
            budgets_s={stage: round(self.budgets[stage].value * 60) for stage in stages if stage != PACKAGE},
            overrides={stage: tuple(self.overrides[stage].value.split()) for stage in TRAINING_STAGES},
        )

    def start(self) -> TrainingJob:
        job = TrainingJob.start(self.context.runs, self.plan(), library=self.context.library_root)
        self.status.say(f"training {job.folder.name} in the background; its log: {job.folder / 'studio.log'}")
        self.refresh_jobs(select=job.folder.name)
        return job

    def cancel(self) -> None:
        job = self._selected()
        job.cancel()
        self.status.say(
            f"cancelling {job.folder.name}: it saves a checkpoint, then stops; resume continues it"
        )

    def resume(self) -> None:
        job = self._selected()
        job.resume(library=self.context.library_root)
        self.status.say(f"resuming {job.folder.name}")
        self._watch(job)

    def package(self) -> Path:
        """Bundle the selected job's ended runs into one model in the library (``distill package``)."""
        from distill.bundle.package import package_runs

        job = self._selected()
        if job.running:
            raise UserError(f"{job.folder.name} is still training: package it when it has ended.")
        runs = finished_runs(job.folder)
        if "vqvae" not in runs:
            raise UserError(
                f"{job.folder.name} has no finished RVQ-VAE run: train it first (a model needs its codes)."
            )
        self.status.say(f"packaging {job.folder.name} …")
        packaged = package_runs(
            vqvae=runs["vqvae"],
            prior=runs.get("prior"),
            vocoder=runs.get("vocoder"),
            name=job.folder.name,
            library=self.context.library_root,
        )
        record_packaged(job.folder, packaged.path)
        self.status.say(f"added {job.folder.name} to the library: {packaged.path}")
        self.context.library_changed()
        return packaged.path

    def refresh_jobs(self, select: str | None = None) -> None:
        """The workspace's jobs, newest first; ``select`` one by name (and watch it)."""
        names = [job.folder.name for job in TrainingJob.all(self.context.runs)]
        current = select or self.jobs.value
        self.jobs.options = names
        if names:
            self.jobs.value = current if current in names else names[0]
        self._show_job()

    # --- watching ---------------------------------------------------------------------------------

    def _selected(self) -> TrainingJob:
        if not self.jobs.value:
            raise UserError("No training job yet: fill in the folder and name, then press train.")
        return TrainingJob(self.context.runs / self.jobs.value)

    def _show_job(self) -> None:
        if self.jobs.value:
            self._watch(TrainingJob(self.context.runs / self.jobs.value))

    def _watch(self, job: TrainingJob) -> None:
        with self._watch_lock:
            self._watched = job
            self._curves_at = 0.0
            self._update(job)
            # A thread only while there is something to follow: an ended job is drawn once, above.
            if job.running and (self._watcher is None or not self._watcher.is_alive()):
                self._watcher = threading.Thread(
                    target=self._watch_loop, daemon=True, name="studio-train-watch"
                )
                self._watcher.start()

    def _watch_loop(self) -> None:
        """Refresh while the watched job runs; then once more, and rest."""
        while True:
            time.sleep(WATCH_EVERY_S)
            with self._watch_lock:
                job = self._watched
                if job is None:
                    return
                running = job.running  # read first: the update below then shows an end that came meanwhile
                try:
                    self._update(job)
                except Exception as error:  # noqa: BLE001 -- a watcher never raises into the notebook
                    self.context.log_failure("watching a training job", error)
                if not running:
                    if job.state.state == "done" and stage_done(job.folder, PACKAGE):
                        self.context.library_changed()
                    self._watcher = None
                    return

    def _update(self, job: TrainingJob) -> None:
        progress = job.progress()
        self.progress.value = progress["fraction"]
        state = job.state
        self.progress.bar_style = {"done": "success", "failed": "danger", "cancelled": "warning"}.get(
            state.state, ""
        )
        self.progress_text.value = progress_line(job, progress)
        if state.state == "failed":
            self.status.error(state.message)
        if time.monotonic() - self._curves_at >= 3 * WATCH_EVERY_S or not job.running:
            self._curves_at = time.monotonic()
            picture = curves_png(progress["stage"])
            self.curves.value = picture
            self.curves.layout.display = None if picture else "none"  # not a broken-image icon
            self.health.value = health_html(progress["stage"])
            preview = newest_preview(job)
            if preview is not None and preview != self._preview_path:
                self._preview_path = preview
                sound = preview.read_bytes()
                if self.preview is None:  # made with its sound: never an empty player, even for a moment
                    self.preview = named(
                        widgets.Audio(value=sound, format="wav", autoplay=False, loop=False), "train-preview"
                    )
                    self.preview_box.children = (widgets.Label("newest preview"), self.preview)
                else:
                    self.preview.value = sound
