"""The serving machinery: the pre-fork master, its workers, the control socket, aiomonitor, slow clients."""
