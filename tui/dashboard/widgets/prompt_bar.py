"""The prompt bar: a multi-line question box. Enter submits; Ctrl+J (or Shift+Enter) starts a new line.

It behaves like a shell's prompt: a question that starts a run stays in the box, selected, so it
is in view with its run and typing replaces it with the next one (Enter alone asks it again); Up
and Down recall earlier questions (this session's, then the history's); and its border
carries the chips that say what Enter will send: a follow-up (Escape drops it), the asking team's
context, the images that go with the question, and the mode of the next run when it is not the one
on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import TextArea

from tui.render.formatting import literal

PLACEHOLDER = "Ask the panel…  (Enter sends · Ctrl+J new line · ↑ earlier questions · F1 help)"
FOLLOW_UP_PLACEHOLDER = "Type the follow-up…  (Enter sends it · Esc makes it a new question)"
# The images chip names them up to this many characters, then says how many more.
IMAGE_NAMES_CHARS = 48


class QuestionRecall:
    """Earlier questions, oldest first, browsed from the newest like a shell's history. The
    history's questions are read once, when first wanted; a question asked again moves to the end."""

    def __init__(self, earlier: Callable[[], list[str]] | None = None) -> None:
        self.earlier = earlier
        self._entries: list[str] | None = None
        self._asked: list[str] = []
        self._index: int | None = None  # the entry on show, or None while editing a new question
        self._draft = ""

    @property
    def entries(self) -> list[str]:
        if self._entries is None:
            self._entries = []
            for question in [*(self.earlier() if self.earlier else []), *self._asked]:
                self._add(question)
        return self._entries

    def _add(self, question: str) -> None:
        assert self._entries is not None
        if question in self._entries:
            self._entries.remove(question)
        self._entries.append(question)

    def asked(self, question: str) -> None:
        """A question was sent: it is the newest entry, and browsing starts again from the end."""
        if self._entries is None:
            self._asked.append(question)
        else:
            self._add(question)
        self._index, self._draft = None, ""

    def older(self, current: str) -> str | None:
        """The entry before the one on show (the newest, starting from `current`, which is kept)."""
        entries = self.entries
        if self._index is None:
            if not entries:
                return None
            self._draft, self._index = current, len(entries)
        if self._index == 0:
            return None
        self._index -= 1
        return entries[self._index]

    def newer(self) -> str | None:
        """The entry after the one on show; past the newest, the question being written."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            self._index = None
            return self._draft
        return self.entries[self._index]

    def edited(self) -> None:
        """The recalled text was changed: it is a new question now, browsing starts again."""
        self._index = None


def _images_count(count: int) -> str:
    return f"{count} image{'' if count == 1 else 's'}"


def _names(images: Sequence[str]) -> str:
    """The images' names, as many as fit the chip, then how many more."""
    shown: list[str] = []
    for index, name in enumerate(images):
        if shown and len(", ".join([*shown, name])) > IMAGE_NAMES_CHARS:
            return f"{', '.join(shown)} +{len(images) - index} more"
        shown.append(literal(name if len(name) <= IMAGE_NAMES_CHARS else name[: IMAGE_NAMES_CHARS - 1] + "…"))
    return ", ".join(shown)


class PromptBar(TextArea):
    """Enter sends the question: it is the one submit key every terminal (and tmux) delivers as is.
    A new line is Ctrl+J, which terminals send as a line feed, or Shift+Enter where the terminal
    reports it."""

    DEFAULT_CSS = """
    PromptBar { height: auto; min-height: 3; max-height: 8; }
    """

    @dataclass
    class Submitted(Message):
        prompt_bar: PromptBar
        question: str

    @dataclass
    class FollowUpDropped(Message):
        """Escape with a follow-up chip: the next question is a new one."""

        prompt_bar: PromptBar

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.placeholder = PLACEHOLDER
        self.recall = QuestionRecall()
        self.follow_up: str | None = None  # the question a follow-up would follow, while one is armed
        self.next_mode: str | None = None  # the next run's mode, when it is not the one on screen
        self.images: tuple[str, ...] = ()  # the images the next question goes with, as named on the chip
        # The context the next question is asked with, as the chip says it: (label, text) or None.
        self.context: tuple[str, str] | None = None
        self._recalled: str | None = None  # the text a recall put in the box, until it is edited

    def on_mount(self) -> None:
        self.move_cursor(self.document.end)  # a question given on the command line is continued, not prefixed

    # -- what Enter will send ------------------------------------------------------------------

    def show_chips(
        self,
        *,
        follow_up: str | None,
        next_mode: str | None,
        images: Sequence[str] = (),
        context: tuple[str, str] | None = None,
    ) -> None:
        """The chips on the border: `↳ follow-up to "…" · Esc drops it` at the top; at the bottom
        `ctx: Python · FastAPI · 4 people`, `2 images: shot.png, flow.jpg` and `next run: consult`.
        `context` is the context chip's label and text (`("ctx:", "Python · …")`)."""
        self.follow_up, self.next_mode, self.images = follow_up, next_mode, tuple(images)
        self.context = context
        if follow_up is None:
            self.border_title = None
        else:
            quoted = " ".join(follow_up.split())
            quoted = quoted if len(quoted) <= 60 else quoted[:59] + "…"
            self.border_title = Content.assemble(
                (" ↳ follow-up ", "bold reverse"), f" to “{literal(quoted)}” · Esc drops it "
            )
        self._show_bottom_chips()
        self.placeholder = FOLLOW_UP_PLACEHOLDER if follow_up is not None else PLACEHOLDER

    def _show_bottom_chips(self) -> None:
        """The bottom border's chips. The context chip is cut to the room the others leave (it is
        the longest, and F4 shows it whole), so the images and the next mode always show."""
        chips: list[Content] = []
        if self.images:
            count = _images_count(len(self.images))
            chips.append(Content.assemble(" ", (count, "bold"), f": {_names(self.images)} "))
        if self.next_mode is not None:
            chips.append(Content.assemble(" next run: ", (self.next_mode, "bold"), " "))
        if self.context is not None:
            label, text = self.context
            width = self.outer_size.width or (self.app.size.width - 2 if self.is_attached else 80)
            # The border's corners and a little of its line stay (4), then " label text " and the
            # other chips, each after a "·".
            room = width - 4 - 3 - len(label) - sum(len(chip.plain) + 1 for chip in chips)
            text = text if len(text) <= room else text[: max(room - 1, 0)].rstrip(" ,·") + "…"
            chips.insert(0, Content.assemble(" ", (label, "bold"), f" {text} "))
        self.border_subtitle = Content("·").join(chips) if chips else None

    def on_resize(self) -> None:
        self._show_bottom_chips()  # the context chip takes the room there is

    def show_question(self, question: str) -> None:
        """Put a question in the box, selected: typing replaces it, Enter sends it again."""
        self.load_text(question)
        self.select_all()

    def question_sent(self, question: str) -> None:
        """A run started from the box: the question stays in view, selected, so typing starts the
        next one; and Up recalls it."""
        self.recall.asked(question)
        self.show_question(question)

    # -- keys ----------------------------------------------------------------------------------

    def _recall(self, text: str | None) -> bool:
        if text is None:
            return False
        self._recalled = text
        self.load_text(text)
        self.move_cursor(self.document.end)
        return True

    def action_cursor_up(self, select: bool = False) -> None:
        """Up on the first line recalls the question before (like a shell); elsewhere it moves up."""
        at_top = not select and self.navigator.is_first_wrapped_line(self.cursor_location)
        if at_top and self._recall(self.recall.older(self.text)):
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        """Down on the last line goes back towards the newest question, then to the one being written."""
        at_bottom = not select and self.navigator.is_last_wrapped_line(self.cursor_location)
        if at_bottom and self._recall(self.recall.newer()):
            return
        super().action_cursor_down(select)

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        # Compared, not flagged: the message of a recall can arrive after the next key's recall.
        if self.text != self._recalled:
            self._recalled = None
            self.recall.edited()

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text.strip()))
            return
        if event.key in ("ctrl+j", "shift+enter"):
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self.replace("\n", start, end)
            return
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            if self.follow_up is not None:
                self.post_message(self.FollowUpDropped(self))
            else:
                self.screen.focus_next()
            return
        await super()._on_key(event)
