"""Performing live: audio input (QtMultimedia capture, analysed as it arrives) and control
(OSC, MIDI, MIDI-learn, recording a set)."""
