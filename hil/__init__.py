"""Hardware in the loop: a node (virtual on a pty, or a board on a serial port) drives the test
set through the host channel simulator and the edge decoder (``semqam hil``, ``semqam profile``).
"""
