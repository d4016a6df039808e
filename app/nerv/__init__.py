"""The NeRV-CLIP research window: settings form, training and evaluation jobs, views."""
