"""The spatial CLIP map inspector window: sources, jobs, the map view."""
