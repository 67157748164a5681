"""The silence watch of one call's listener, frame by frame (the media tick is the clock): real
espeak-ng speech for both parties, pink noise under the callee's line."""

from __future__ import annotations

import numpy as np

from callgate.listen.listener import CallListener
from callgate.listen.options import ListenOptions
from callgate.media.pcm import FRAME_MS, SILENCE_FRAME
from tests.listen import audio

SILENCE_MS = 2000
TURN_END_TOLERANCE_MS = 200 + 400  # where a word's ending fades (test_vad), plus the hangover


def conversation(
    callee: audio.Scene, bot_clips: list[tuple[float, np.ndarray]], options: ListenOptions
) -> list[tuple[int, dict[str, object]]]:
    """Feed both sides tick by tick; the `silence` events with the millisecond they came at."""
    listener = CallListener(options)
    bot = audio.Scene(callee.duration_s, [(at, clip, True) for at, clip in bot_clips]).render()
    if callee.clips:
        line = callee.render("pink", 20.0)
    else:  # no speech to set the noise's level by: a line hiss of about -45 dBFS
        line = audio.pcm16(audio.pink(callee.duration_s, 1) * 0.006)
    got = []
    for n, (heard, said) in enumerate(zip(audio.frames(line), audio.frames(bot), strict=True)):
        listener.said(said if any(said) else SILENCE_FRAME)
        for event in listener.heard(heard).events:
            if event.event == "silence":
                got.append(((n + 1) * FRAME_MS, event.fields))
    return got


def test_each_silent_stretch_is_told_once_with_who_owes_the_next_word() -> None:
    prompt = audio.trim(audio.speech("how can I help you today?", "en-us")) * 0.5
    reply = audio.trim(audio.speech("I see, one moment", "en-us")) * 0.5
    answer = audio.trim(audio.speech("I would like to check my balance", "en-gb+f3"))
    answer_at, reply_at = 5.0, 10.0
    prompt_end = len(prompt) / 8000
    answer_end = answer_at + len(answer) / 8000
    reply_end = reply_at + len(reply) / 8000
    assert prompt_end + SILENCE_MS / 1000 < answer_at  # the callee lets the re-prompt come
    assert answer_end + 0.4 + SILENCE_MS / 1000 < reply_at  # the bot is slow to answer
    callee = audio.Scene(20.0, [(answer_at, answer, True)])
    events = conversation(
        callee, [(0.0, prompt), (reply_at, reply)], ListenOptions(silence_ms=SILENCE_MS)
    )
    assert [fields for _, fields in events] == [
        {"side": "callee", "ms": SILENCE_MS},  # we asked; no answer: re-prompt
        {"side": "bot", "ms": SILENCE_MS},  # the callee answered; we said nothing
        {"side": "callee", "ms": SILENCE_MS},  # our reply went unanswered
    ]
    (prompted, _), (unanswered, _), (replied, _) = events
    # counted from the end of our audio exactly, from the end of the callee's turn (hangover)
    assert abs(prompted - (prompt_end * 1000 + SILENCE_MS)) <= FRAME_MS
    assert 0 <= unanswered - (answer_end * 1000 + SILENCE_MS) <= TURN_END_TOLERANCE_MS
    assert abs(replied - (reply_end * 1000 + SILENCE_MS)) <= FRAME_MS


def test_nobody_speaking_is_both_once_and_no_watch_without_the_option() -> None:
    quiet = audio.Scene(12.0, [])
    assert conversation(quiet, [], ListenOptions(silence_ms=SILENCE_MS)) == [
        (SILENCE_MS, {"side": "both", "ms": SILENCE_MS})
    ]
    assert conversation(quiet, [], ListenOptions()) == []  # silenceMs 0: never


def test_a_pause_inside_a_turn_or_a_short_silence_is_not_a_stretch() -> None:
    words = [audio.trim(audio.speech(w, "en-us")) for w in ("yes", "that is right", "thanks")]
    clips = [(1.0, words[0], True), (2.5, words[1], True), (4.3, words[2], True)]
    callee = audio.Scene(8.0, clips)
    events = conversation(callee, [], ListenOptions(silence_ms=SILENCE_MS, hangover_ms=400))
    end_ms = (4.3 + len(words[2]) / 8000) * 1000
    # the gaps between the words (< 2 s) told nothing; the one after the last did, as `bot`
    assert [fields for _, fields in events] == [{"side": "bot", "ms": SILENCE_MS}]
    assert 0 <= events[0][0] - (end_ms + SILENCE_MS) <= TURN_END_TOLERANCE_MS
