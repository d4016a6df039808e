"""The Train panel: prompts, presets, the queue (mood board), live image and curve."""
