"""What the next question is asked with, as the prompt's chips say it: a follow-up of the run on
screen (F3, until it is sent or Escape drops it), the asking team's context (F4 shows it, and from
there a recorded run's context can give way to the project's), the images (the palette attaches
and detaches them) and the next run's mode (Ctrl+O).

The state itself is the session's (its thread, context, images and mode); this keeps the one flag
the session has no word for — whether Enter sends a follow-up — and the chips in step with it all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from textual.app import App, SystemCommand

from tui.config.schema import Settings
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.engine.types import Image, PriorTurn, RunStatus
from tui.errors import UsageError
from tui.history.replay import follow_up_thread, prior_turns
from tui.history.store import RunStore
from tui.render.context import context_chip
from tui.render.formatting import file_size
from tui.render.report import image_words
from tui.session import Session


class NextQuestion:
    """The next question's follow-up, context, images and mode, for the dashboard `app`: its keys,
    its palette commands and the prompt's chips."""

    def __init__(
        self,
        app: App[Any],
        settings: Settings,
        session: Session,
        store: RunStore | None,
        prompt: PromptBar,
        tracker: RoundTracker,
    ) -> None:
        self.app, self.settings, self.session, self.store = app, settings, session, store
        self.prompt, self.tracker = prompt, tracker
        self.follows_up = False
        """F3 was pressed: the next question follows up the run on screen (the session's thread)."""

    # -- the chips -------------------------------------------------------------------------

    def refresh_chips(self) -> None:
        """The prompt's chips, from the state itself: a follow-up exactly when Enter sends one, the
        asking team's context (`ctx (run …):` when it is a recorded run's, not the project's), the
        images the next question goes with (a recorded one that is not on disk as it was is named
        `(not sent)`), and the next run's mode when it is not the mode of the run on screen (the
        tracker's)."""
        session = self.session
        thread = session.thread
        follow_up = thread[-1].question if self.follows_up and thread else None
        shown_mode = session.shown.prepared.request.mode if session.shown is not None else None
        next_mode = session.mode.value if shown_mode not in (None, session.mode) else None
        images = [
            PurePath(image.path).name + ("" if isinstance(image, Image) else " (not sent)")
            for image in session.images
        ]
        self.prompt.show_chips(
            follow_up=follow_up, next_mode=next_mode, images=images, context=self._context_chip()
        )

    def _context_chip(self) -> tuple[str, str] | None:
        """The context chip's label and text: none without a context, unless a recorded run's lack
        of one stands in for the project's."""
        session = self.session
        recorded = session.context_difference() is not None
        label = f"ctx (run {session.context_from}):" if recorded else "ctx:"
        if session.context is None:
            return (label, "none") if recorded else None
        return label, context_chip(session.context)

    # -- the follow-up ---------------------------------------------------------------------

    def follow_up(self, thread: list[PriorTurn]) -> None:
        """The next question follows up `thread` (its last run is the parent), until it is sent or
        Escape drops it."""
        self.session.follow_up(thread)
        self.follows_up = True
        self.refresh_chips()

    def new_question(self) -> None:
        """A question is about to be sent: unless F3 made it a follow-up, it starts a new thread."""
        if not self.follows_up:
            self.session.follow_up([])

    def forget_follow_up(self) -> None:
        """The question went, or another run took the screen: the next one is not a follow-up
        unless F3 is pressed again. The session keeps the thread of the run on screen (a rerun of
        a follow-up is one)."""
        self.follows_up = False

    def drop_follow_up(self) -> None:
        """Escape in the prompt while a follow-up is armed: the next question is a new one."""
        self.session.follow_up([])
        self.follows_up = False
        self.refresh_chips()
        self.app.notify("Not a follow-up any more: Enter sends a new question.", markup=False)

    def ask_follow_up(self) -> None:
        """F3: the next question follows up the run on screen, with what it built on."""
        shown = self.session.shown
        result = shown.result if shown is not None else None
        if result is None or result.status is RunStatus.RUNNING:
            self.app.notify("Finish or open a run first: a follow-up builds on one.", severity="warning")
            return
        try:
            thread = follow_up_thread(self.store, result.run_id, self.settings.run.follow_up_depth)
        except UsageError:  # no history, or this run was not recorded: it alone is the context
            thread = prior_turns([result])
        self.follow_up(thread)
        prompt = self.prompt
        if prompt.text.strip() == result.question.strip():
            prompt.load_text("")  # the question on show is not the follow-up; what the user wrote stays
        prompt.focus()
        self.app.notify(
            "Type the follow-up; the panel gets the earlier question, answer and open objections. "
            "Escape makes it a new question.",
            markup=False,
        )

    # -- the mode --------------------------------------------------------------------------

    def toggle_mode(self) -> None:
        """Ctrl+O: the next run goes in the next mode (deliberate, consult, vote, debate, council)."""
        session = self.session
        mode = session.toggle_mode()
        if session.shown is None:  # nothing on screen: the tracker shows what the next run will be
            self.tracker.reset(mode, session.rounds_for(mode))
        self.refresh_chips()  # else the prompt's chip says it; the tracker stays the run's on screen
        # A flag the new mode ignores (--rounds in consult) is said, as `quorum run` says it.
        self.app.notify(" ".join([f"Next run: {mode.value}.", *session.unused_options()]), markup=False)

    # -- the context -----------------------------------------------------------------------

    def show_context(self) -> None:
        """F4: the context in full; from there a recorded run's can give way to the project's (`p`)."""
        from tui.dashboard.screens.context import ContextScreen  # screens load when first opened

        session = self.session
        screen = ContextScreen(
            session.context,
            recorded_by=session.context_from,
            project=session.project_context,
            files=self.settings.context_files,
        )
        self.app.push_screen(screen, callback=self._context_chosen)

    def _context_chosen(self, use_project: bool | None) -> None:
        if not use_project:
            return
        self.session.use_project_context()
        self.refresh_chips()
        self.app.notify("The next runs are asked with the project's context.", markup=False)

    # -- the images ------------------------------------------------------------------------

    def commands(self) -> Iterable[SystemCommand]:
        """The palette's image commands (detaching only while there is something to detach)."""
        yield SystemCommand(
            "Attach an image",
            "Send an image (PNG, JPEG, WebP, GIF) with the next questions to the vision-capable members",
            self.attach_image,
        )
        if self.session.images:
            yield SystemCommand(
                "Detach the images", "The next questions go without the images on the prompt's chip",
                self.detach_images,
            )  # fmt: skip

    def attach_image(self) -> None:
        from tui.dashboard.screens.image_path import ImagePathScreen  # screens load when first opened

        self.app.push_screen(ImagePathScreen(self.session.attach_image), callback=self._image_attached)

    def _image_attached(self, image: Image | None) -> None:
        if image is None:
            return
        self.refresh_chips()
        members = self.session.members()
        seeing = [m.alias for m in members if m.vision]
        blind = [m.alias for m in members if not m.vision]
        who = f"it goes to {', '.join(seeing)}" if seeing else "no member of this panel takes images"
        if seeing and blind:
            who += f"; {', '.join(blind)} answer{'s' if len(blind) == 1 else ''} from the text"
        self.app.notify(
            f"Attached {PurePath(image.path).name} ({image_words(image)}, {file_size(image.size)}) to the "
            f"next questions: {who}.",
            markup=False,
        )

    def detach_images(self) -> None:
        dropped = self.session.detach_images()
        self.refresh_chips()
        count = len(dropped)
        self.app.notify(
            f"Detached {count} image{'' if count == 1 else 's'}: the next questions go without."
            if count
            else "No image is attached.",
            markup=False,
        )
