"""The runtime procedures that modes name (:attr:`care_bridge.modes.Mode.procedure`): ``network`` (the network
does everything) and ``isotropic`` (a 2D network on the XZ and YZ slices of an upsampled stack)."""
