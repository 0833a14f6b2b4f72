"""Training on the user's labelled images: the notes' strategy by images per class, the loop, checkpoints."""
