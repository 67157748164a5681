"""The one error the media modules raise for bad audio from a peer: `AudioFormatError`."""

from __future__ import annotations


class AudioFormatError(ValueError):
    """The peer sent audio we cannot use: an unknown format name, or bytes that are not that format.

    It is the sender's fault; the Socket.IO `audio` acknowledgement carries `str(error)` as its `error`.
    The decoder that raised stays usable: the offending bytes are discarded, later good data decodes.
    """
