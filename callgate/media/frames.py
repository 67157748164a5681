"""`FrameSplitter`: cut a PCM16 byte stream of any chunking into whole 20 ms (320-byte) frames.

Clients send audio in whatever sizes they like (the spec recommends 2560 bytes, but odd counts happen);
the media clock plays exactly one 320-byte frame per tick. The splitter carries the remainder, odd byte
included, from one call to the next, so nothing is dropped and no sample is split (a split sample would
be a loud click). It never holds more than one frame minus one byte.
"""

from __future__ import annotations

from callgate.media.pcm import BYTES_PER_SAMPLE, FRAME_BYTES


class FrameSplitter:
    """Whole frames out of arbitrary PCM16 chunks; `flush()` pads the last partial frame with silence."""

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        if frame_bytes <= 0 or frame_bytes % BYTES_PER_SAMPLE:
            raise ValueError(f"frame_bytes must be a positive even number, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._pending = bytearray()

    @property
    def pending_bytes(self) -> int:
        """Bytes held back until the next call completes a frame."""
        return len(self._pending)

    def feed(self, pcm16: bytes | bytearray | memoryview) -> list[bytes]:
        """Every whole frame that `pcm16`, appended to what was pending, completes (maybe none)."""
        size = self.frame_bytes
        if len(pcm16) == size and not self._pending and isinstance(pcm16, bytes):
            return [pcm16]  # one whole frame, the streaming case: no copy
        if self._pending:
            need = size - len(self._pending)
            if len(pcm16) < need:
                self._pending += pcm16
                return []
            first = bytes(self._pending) + bytes(pcm16[:need])
            self._pending.clear()
            frames = [first]
            rest = memoryview(pcm16)[need:]
        else:
            frames = []
            rest = memoryview(pcm16)
        whole = len(rest) - len(rest) % size
        frames.extend(bytes(rest[i : i + size]) for i in range(0, whole, size))
        self._pending += rest[whole:]
        return frames

    def flush(self) -> bytes | None:
        """The pending partial frame padded with silence, or None if nothing is pending.

        A dangling odd byte is half a sample: it is dropped rather than completed with an invented
        high byte. Afterwards the splitter is empty and ready for a new stream.
        """
        whole_samples = len(self._pending) - len(self._pending) % BYTES_PER_SAMPLE
        tail = bytes(self._pending[:whole_samples])
        self._pending.clear()
        if not tail:
            return None
        return tail + bytes(self.frame_bytes - len(tail))

    def reset(self) -> None:
        """Forget anything pending (for example when playback is interrupted)."""
        self._pending.clear()
