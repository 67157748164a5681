"""The gateway listens: sans-I/O analysis of the far party's 20 ms frames (speech, tones, machines)."""
