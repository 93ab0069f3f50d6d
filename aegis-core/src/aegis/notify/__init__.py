"""Notifications: telling a person that something needs them, or ended.

aegis sends a :class:`Notification` when an agent asks for an approval or asks a
question, when a queued task fails, when a workflow run ends and when a session
fails. :class:`Notifier` (``runtime.notifier``) hands each one to the channels the
project configured in ``.aegis.py``, to every plugin's ``notify`` hook and to the
clients attached to the daemon. See ``docs/approvals.md``.
"""

from aegis.notify.config import ChannelConfig, Desktop, Webhook
from aegis.notify.model import NOTIFICATION_VERSION, Notification, NotificationKind
from aegis.notify.notifier import Channel, Notifier

__all__ = [
    "NOTIFICATION_VERSION",
    "Channel",
    "ChannelConfig",
    "Desktop",
    "Notification",
    "NotificationKind",
    "Notifier",
    "Webhook",
]
