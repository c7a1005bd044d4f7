"""The dashboard's images: attaching one by its path, and detaching them, from the command palette.

Built on the dashboard's core (`DashboardCore`); the images themselves are the session's, and the
prompt's chip shows them (see `DashboardCore.refresh_chips`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen

from tui.dashboard.core import DashboardCore
from tui.engine.types import Image
from tui.render.formatting import file_size
from tui.render.report import image_words


class ImageActions(DashboardCore):
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Attach an image",
            "Send an image (PNG, JPEG, WebP, GIF) with the next questions to the vision-capable members",
            self.action_attach_image,
        )
        if self.session.images:
            yield SystemCommand(
                "Detach the images", "The next questions go without the images on the prompt's chip",
                self.action_detach_images,
            )  # fmt: skip

    def action_attach_image(self) -> None:
        from tui.dashboard.screens.image_path import ImagePathScreen  # screens load when first opened

        self.push_screen(ImagePathScreen(self.session.attach_image), callback=self.image_attached)

    def image_attached(self, image: Image | None) -> None:
        if image is None:
            return
        self.refresh_chips()
        members = self.session.members()
        seeing = [m.alias for m in members if m.vision]
        blind = [m.alias for m in members if not m.vision]
        who = f"it goes to {', '.join(seeing)}" if seeing else "no member of this panel takes images"
        if seeing and blind:
            who += f"; {', '.join(blind)} answer{'s' if len(blind) == 1 else ''} from the text"
        self.notify(
            f"Attached {PurePath(image.path).name} ({image_words(image)}, {file_size(image.size)}) to the "
            f"next questions: {who}.",
            markup=False,
        )

    def action_detach_images(self) -> None:
        dropped = self.session.detach_images()
        self.refresh_chips()
        count = len(dropped)
        self.notify(
            f"Detached {count} image{'' if count == 1 else 's'}: the next questions go without."
            if count
            else "No image is attached.",
            markup=False,
        )
