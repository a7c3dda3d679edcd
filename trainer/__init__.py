"""Training-side code of the semqam pipeline."""
