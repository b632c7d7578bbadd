"""Notification channels: one delivery attempt per ``send``; retries belong to the outbox."""

from __future__ import annotations

from hotline_ops.notify.base import Channel, Message, Recipient, mask
from hotline_ops.notify.registry import CHANNEL_KINDS, build_channel, channel_class

__all__ = [
    "CHANNEL_KINDS",
    "Channel",
    "Message",
    "Recipient",
    "build_channel",
    "channel_class",
    "mask",
]
