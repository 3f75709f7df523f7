"""Every feature that subscribes to another feature's hooks, imported by the application and the CLI.

A lower feature announces events through a hook registry (`app.notices.service.after_notice_written`)
and never imports the features built on it; importing this module registers every subscriber, so
whether a hook runs never depends on which modules happen to have been imported
(docs/architecture.md, "Hooks").
"""

from __future__ import annotations

from types import ModuleType

from app.enquiries import service as enquiries_service  # deconfliction after a notice is written

SUBSCRIBERS: tuple[ModuleType, ...] = (enquiries_service,)
