"""Images in: image folders, built-in sets, preprocessing, and the calibration set every converter draws from."""
