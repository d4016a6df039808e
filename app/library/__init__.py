"""The style library browser: the grid of thumbnails, search, sort, favourites and the
right-click actions."""
