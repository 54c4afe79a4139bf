"""Train: train the seed model, or another model of its family, from the browser and watch it learn."""

import time

import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import explain_missing_dataset, show_figure
from fashion_viz.architecture import PRESETS, SEED_SPEC, SPEC_HELP, SpecError, normalised_spec, parameter_count
from fashion_viz.figures.layers import kernel_mosaic
from fashion_viz.figures.training import training_curves
from fashion_viz.training import TrainConfig, dropout_share_in_epoch, estimate_seconds, remaining_seconds, schedule_config, split_sizes

OWN_SPEC = "your own…"

defaults = TrainConfig()
n_train, n_val = split_sizes(60_000, defaults.validation_size)
st.title("Train")
st.markdown(
    f"Train a fresh copy of the network (or another shape of it) on the 60,000 Fashion-MNIST training pictures ({n_val:,} held out for validation) "
    "and watch the loss fall and the accuracy rise. The shipped model is never overwritten: the new one is saved under a new "
    "name in `models/`, checked, and you choose whether to use it."
)
data = resources.dataset()
if data is None:
    explain_missing_dataset("Training")
    st.stop()

jobs = resources.training_jobs()
session_id = st.session_state.setdefault(state.SESSION_ID, f"{time.time_ns():x}")
running = jobs.snapshot().running

def duration_text(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def estimate_note(config, timing) -> None:
    """The run's expected time, from a training step timed on this server (in the background, once per server)."""
    used, held_out = split_sizes(config.train_limit or 60_000, config.validation_size)
    what = f"{used:,} training images, {held_out:,} held out, batch {config.batch_size}"
    if timing.error:
        st.caption(f"No time estimate: timing a training step failed ({timing.error}). {what}.")
    elif not timing.done:
        st.caption(f"Timing a few training steps on this server for the estimate… ({what})")
    else:
        if st.session_state.pop(state.TRAIN_TIMING_PENDING, False):
            st.rerun(scope="app")  # once: the full run stops this note's polling
        st.caption(f"Estimated time on this server: about {duration_text(estimate_seconds(config, timing.value))} ({what}; measured from a few timed training steps).")
        return
    st.session_state[state.TRAIN_TIMING_PENDING] = True


def architecture_choice() -> str | None:
    """The chosen SPEC (checked and written the one way), or None with the reason shown."""
    names = [*PRESETS, OWN_SPEC]
    shape, spec_column = st.columns([1.2, 3], vertical_alignment="bottom")
    choice = shape.selectbox("Architecture", names, key=state.widget_key("train", "architecture"),
                             help="The seed is the shipped model's shape; the others are there to compare with it.")
    text = PRESETS.get(choice, SEED_SPEC)
    if choice == OWN_SPEC:
        text = spec_column.text_input("Layers (SPEC)", value=SEED_SPEC, key=state.widget_key("train", "spec"), help=SPEC_HELP)
    try:
        spec = normalised_spec(text)
    except SpecError as exc:
        spec_column.error(str(exc), icon=":material/error:")
        return None
    if choice != OWN_SPEC:
        spec_column.code(spec, language=None)
    st.caption(f"{parameter_count(spec):,} weights ({parameter_count(spec) / parameter_count(SEED_SPEC):.2f}x the seed's); the final Dense(10, softmax) is always added.")
    return spec


started = False
with st.container(border=True), guarded("the training settings"):
    architecture = architecture_choice()
    # Plain widgets, not a form: the time estimate follows every change before training starts.
    # Each schedule has its own widget keys, so choosing one resets the settings to its values.
    schedule = st.segmented_control(
        "Schedule",
        options=["fast", "full"],
        default="fast",
        format_func=lambda name: {"fast": f"Fast ({schedule_config('fast').epochs} epochs)", "full": f"Full ({schedule_config('full').epochs} epochs, the shipped model's)"}[name],
        key=state.widget_key("train", "schedule"),
        help="Fast: ramped dropout and weight decay, 92.2 % on the test set with the default seed (91.9-92.3 % over five seeds). "
        "Full: how the shipped model was trained, 92.8 %. How long each takes on this server is measured below.",
    ) or "fast"
    preset = schedule_config(schedule)
    a, b, c, d = st.columns(4)
    epochs = a.number_input("Epochs", min_value=1, max_value=150, value=preset.epochs, key=state.widget_key("train", f"epochs_{schedule}"))
    batch_size = b.select_slider("Batch size", options=[32, 64, 128, 256, 512], value=preset.batch_size, key=state.widget_key("train", f"batch_{schedule}"))
    learning_rate = c.select_slider(
        "Peak learning rate",
        options=[3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3, 1e-2],
        value=preset.learning_rate,
        format_func=lambda v: f"{v:g}",
        key=state.widget_key("train", f"lr_{schedule}"),
    )
    train_limit = d.select_slider(
        "Training images",
        options=[5_000, 10_000, 20_000, 30_000, 60_000],
        value=60_000,
        format_func=lambda v: f"{v:,}",
        help="Fewer images train faster and score lower.",
        key=state.widget_key("train", f"images_{schedule}"),
    )
    left, right = st.columns([1, 3], vertical_alignment="center")
    weight_decay = left.select_slider(
        "Weight decay",
        options=[0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
        value=preset.weight_decay,
        format_func=lambda v: "none" if v == 0 else f"{v:g}",
        key=state.widget_key("train", f"decay_{schedule}"),
        help="AdamW's decoupled weight decay: every step also shrinks each weight by learning rate x this. It keeps the "
        "weights small, which helped the fast schedule generalise (+0.3 points of validation accuracy on each of three seeds).",
    )
    dropout_ramp = right.toggle(
        "Ramp dropout up",
        value=preset.dropout_ramp,
        key=state.widget_key("train", f"ramp_{schedule}"),
        help="Curriculum dropout: no units are dropped in the first epoch, and the share rises every epoch until the last "
        "one drops at the network's own rates (the seed's: 30 %, 30 %, 50 %). A short run then learns faster; the saved network is the same.",
    )
    config = schedule_config(
        schedule,
        architecture=architecture or SEED_SPEC,
        epochs=int(epochs),
        batch_size=int(batch_size),
        learning_rate=float(learning_rate),
        train_limit=None if train_limit == 60_000 else int(train_limit),
        dropout_ramp=bool(dropout_ramp),
        weight_decay=float(weight_decay),
    )
    timing = resources.step_timing()
    if architecture is not None:
        st.fragment(estimate_note, run_every=None if timing.done else 0.5)(config, timing)
    started = st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=running or architecture is None)
if started:
    resources.wait_for_warmup()  # the training thread imports TensorFlow: never beside the warm-up's import
    if jobs.start(data, config, owner=session_id):
        running = True
    else:
        st.warning("Another training run is already in progress on this server; wait for it to finish.")


def progress_panel() -> None:
    """The job's progress, curves and result. Refreshes itself every second only while a job runs;
    when the job this tab watched ends, the whole page reruns once (so "Start training" is enabled again)."""
    with guarded("the training progress"):
        _progress(jobs.snapshot())


def _progress(job) -> None:
    if job.running:
        st.session_state[state.TRAIN_WATCHING] = True
    elif st.session_state.pop(state.TRAIN_WATCHING, False):
        st.rerun(scope="app")
    if job.state == "idle":
        st.caption("No training has run on this server since it started.")
        return
    mine = job.owner == session_id
    if job.running:
        who = "Your training run" if mine else "Someone else's training run"
        epoch = min(job.epoch + 1, job.config.epochs)
        ramp = f"; dropout at {dropout_share_in_epoch(epoch - 1, job.config.epochs):.0%} of its rates" if job.config.dropout_ramp else ""
        left = remaining_seconds(time.time() - job.started, job.fraction) if job.started else None
        pace = f" · about {duration_text(left)} left at its pace so far" if left is not None else ""
        st.progress(job.fraction, text=f"{who}: epoch {epoch} of {job.config.epochs}, batch {job.step} of {job.steps_per_epoch}{ramp}{pace}")
        if mine and job.state == "running":
            if st.button("Cancel training", icon=":material/stop:"):
                jobs.cancel()
                st.rerun(scope="fragment")
        elif job.state == "cancelling":
            st.caption("Cancelling after the current batch…")
        elif not mine:
            st.caption("Only one training run can go at a time on this server; you can watch this one.")
    elif job.state == "done":
        st.success(f"Training finished in {job.finished - job.started:.0f} s: test accuracy **{job.test_accuracy:.2%}** on the 10,000 test images. Saved as `{job.model_path.name}`.")
        if str(resources.model_path()) == str(job.model_path):
            st.caption("You are using this model now.")
            st.page_link(state.PAGES["replay"], label="Watch it learn: the replay of this run", icon=":material/replay:")
        elif st.button("Use this model in the app", type="primary", icon=":material/check:"):
            st.session_state[state.MODEL_PATH] = str(job.model_path)
            st.rerun(scope="app")
    elif job.state == "cancelled":
        st.info("Training was cancelled; nothing was saved.")
    elif job.state == "failed":
        st.error(f"Training failed: {job.error}")
    if job.history:
        last = job.history[-1]
        cols = st.columns(4)
        cols[0].metric("Training loss", f"{last.loss:.3f}")
        cols[1].metric("Training accuracy", f"{last.accuracy:.2%}")
        cols[2].metric("Validation accuracy", f"{last.val_accuracy:.2%}")
        cols[3].metric("Seconds per epoch", f"{last.seconds:.1f}")
        history = [vars(r) for r in job.history]
        left, right = st.columns(2)
        with left:
            show_figure(training_curves(history, "loss", "Loss per epoch (lower is better)"), "train_loss")
        with right:
            show_figure(training_curves(history, "accuracy", "Accuracy per epoch"), "train_accuracy")
        if job.config.dropout_ramp:
            st.caption(
                "Training accuracy is measured with dropout on at that epoch's share of the rates: none in the first epoch, the full "
                "rates in the last (half of the dense units off). So it starts above the validation accuracy and ends below it."
            )
        else:
            st.caption("Training accuracy is measured with dropout switched on (a random half of the dense units off), so it sits below the validation accuracy.")
    elif job.running:
        st.caption("The curves appear after the first epoch.")
    if job.first_filters is not None and (job.running or job.state == "done"):
        show_figure(
            kernel_mosaic(job.first_filters, f"The first layer's filters at epoch {job.filters_epoch:.2g}: out of random noise, patterns", columns=16),
            "train_filters",
        )
        st.caption("Taken at each of the run's replay snapshots (dense early, sparse late). Once the run is saved, the Replay page plays them all.")


st.fragment(progress_panel, run_every=1.0 if running else None)()
