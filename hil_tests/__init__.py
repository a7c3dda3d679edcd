"""The hardware-in-the-loop test suite (marker ``hil``); see README.md here."""
