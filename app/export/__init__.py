"""The Export dialog: size, rate, range, quality, target; here or on a Ray cluster."""
